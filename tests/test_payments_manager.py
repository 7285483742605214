"""PaymentManager: the idempotency matrix of issue 3 and the lifecycle rules of §9."""

from __future__ import annotations

import logging
import stat
from datetime import timedelta
from decimal import Decimal

import pytest

from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments import (
    AuthorizationRejected,
    FacilitatorUnavailable,
    IdempotencyConflict,
    NotApproved,
    PaymentRefused,
    SettlementFailed,
    VendorNotSupported,
)
from genesis_payments.payments.store import AuthorizationStore
from tests.support.chain import usdc_balance
from tests.support.payments import AGENT, approve, approved_intent, in_process, make_intent

# Payments settle on the real local chain (one anvil per session, reverted after each test).
pytestmark = pytest.mark.usefixtures("local_chain")


def events(settings):
    return BusinessMonitor(settings).read_events().records


def debits(settings):
    return FinanceLedger(settings).read_entries().records


def balance(settings):
    return usdc_balance(settings, AGENT)


def snapshot(settings):
    """Everything a refused operation must leave untouched."""
    files = [settings.transactions_path, settings.finance_ledger_path]
    stored = sorted((settings.state_dir / "payments").glob("pay_*.json"))
    return [p.read_bytes() if p.exists() else None for p in files + stored]


# --- authorize ---------------------------------------------------------------------------------


def test_authorize_twice_with_one_key_gives_one_authorization(settings):
    manager, fake = in_process(settings)
    intent = approved_intent(settings)
    first = manager.authorize(intent, "idem-key-1")
    second = manager.authorize(intent, "idem-key-1")
    assert first.payment_id == second.payment_id
    assert first.status == "authorized"
    assert fake.calls["verify"] == 1
    assert [e.status for e in events(settings)] == ["authorized"]
    assert len(AuthorizationStore(settings).all()) == 1


def test_authorized_event_carries_intent_key_and_valid_before(settings):
    manager, _ = in_process(settings)
    intent = approved_intent(settings)
    payment = manager.authorize(intent, "idem-key-2")
    (event,) = events(settings)
    assert (event.intent_id, event.business_id, event.idempotency_key) == (intent.intent_id, "biz-1", "idem-key-2")
    assert event.valid_before == payment.valid_before
    assert event.amount_usd == Decimal("2.5") and event.chain == "eip155:84532" and event.token == "USDC"


def test_one_key_for_two_intents_is_refused(settings):
    manager, _ = in_process(settings)
    manager.authorize(approved_intent(settings), "shared-key")
    with pytest.raises(IdempotencyConflict, match="shared-key"):
        manager.authorize(approved_intent(settings), "shared-key")


@pytest.mark.parametrize(
    ("decision", "cost", "match"),
    [(None, None, "no approval"), ("denied", None, "denied"), ("pending_review", None, "pending_review"),
     ("approved", "1.00", "approved for 1.000000")],
)
def test_authorize_without_a_covering_approval_is_refused_and_writes_nothing(settings, decision, cost, match):
    manager, fake = in_process(settings)
    intent = make_intent()
    if decision:
        approve(settings, intent, decision, cost)
    before = snapshot(settings)
    with pytest.raises(NotApproved, match=match):
        manager.authorize(intent, "key-refused-1")
    assert snapshot(settings) == before
    assert fake.calls["verify"] == 0
    assert not (settings.state_dir / "payments" / "idempotency.json").exists()


def test_unknown_vendor_or_chain_is_refused(settings):
    manager, _ = in_process(settings)
    with pytest.raises(VendorNotSupported, match="not in the vendor cache"):
        manager.authorize(approved_intent(settings, vendor="nobody:sells:this"), "key-vendor-1")
    with pytest.raises(VendorNotSupported, match="eip155:1"):
        manager.authorize(approved_intent(settings, chain="eip155:1"), "key-vendor-2")


def test_verify_timeout_then_retry_verifies_the_same_signature(settings):
    manager, fake = in_process(settings)
    intent = approved_intent(settings)
    fake.fail_next("verify", "timeout")
    with pytest.raises(FacilitatorUnavailable, match="verify"):
        manager.authorize(intent, "key-verify-timeout")
    assert events(settings) == []
    (stored,) = AuthorizationStore(settings).all()
    signature = stored["payload"]["payload"]["signature"]
    payment = manager.authorize(intent, "key-verify-timeout")
    assert payment.payment_id == stored["payment_id"]
    (again,) = AuthorizationStore(settings).all()
    assert again["payload"]["payload"]["signature"] == signature


def test_insufficient_funds_at_verify_is_rejected_with_the_x402_reason(settings):
    manager, fake = in_process(settings)
    fake.fail_next("verify", "refuse")
    with pytest.raises(AuthorizationRejected, match="insufficient_funds") as caught:
        manager.authorize(approved_intent(settings), "key-poor-1")
    assert caught.value.reason == "insufficient_funds"
    assert events(settings) == []


def test_an_empty_wallet_is_rejected_by_the_sdk_verification(settings):
    manager, _ = in_process(settings, fund="1.00")
    with pytest.raises(AuthorizationRejected) as caught:
        manager.authorize(approved_intent(settings), "key-poor-2")
    assert caught.value.reason == "invalid_exact_evm_insufficient_balance"


# --- capture -----------------------------------------------------------------------------------


def test_capture_twice_settles_once_and_debits_once(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-capture-1")
    first = manager.capture(payment.payment_id)
    second = manager.capture(payment.payment_id)
    assert first.status == second.status == "captured"
    assert first.tx_hash and first.tx_hash == second.tx_hash
    assert fake.calls["settle"] == 1
    assert [d.payment_id for d in debits(settings)] == [payment.payment_id]
    assert debits(settings)[0].amount_usd == Decimal("2.5")
    assert balance(settings) == Decimal("97.5")
    assert [e.status for e in events(settings)] == ["authorized", "captured"]


def test_capture_above_the_authorized_amount_is_refused_and_writes_nothing(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-capture-2")
    before = snapshot(settings)
    with pytest.raises(PaymentRefused, match="more than"):
        manager.capture(payment.payment_id, Decimal("2.500001"))
    assert snapshot(settings) == before
    assert fake.calls["settle"] == 0


def test_capture_after_cancel_and_cancel_after_capture_are_refused(settings):
    manager, fake = in_process(settings)
    cancelled = manager.authorize(approved_intent(settings), "key-cancel-1")
    manager.cancel(cancelled.payment_id)
    before = snapshot(settings)
    with pytest.raises(PaymentRefused, match="cancelled"):
        manager.capture(cancelled.payment_id)
    assert snapshot(settings) == before

    captured = manager.authorize(approved_intent(settings), "key-cancel-2")
    manager.capture(captured.payment_id)
    before = snapshot(settings)
    with pytest.raises(PaymentRefused, match="captured"):
        manager.cancel(captured.payment_id)
    assert snapshot(settings) == before
    assert fake.calls["settle"] == 1


def test_cancel_logs_cancelled_with_the_intent_and_destroys_the_authorization(settings):
    manager, _ = in_process(settings)
    intent = approved_intent(settings)
    payment = manager.authorize(intent, "key-cancel-3")
    assert manager.cancel(payment.payment_id).status == "cancelled"
    assert manager.cancel(payment.payment_id).status == "cancelled"  # repeat is harmless
    statuses = [(e.status, e.intent_id) for e in events(settings)]
    assert statuses == [("authorized", intent.intent_id), ("cancelled", intent.intent_id)]
    assert "payload" not in AuthorizationStore(settings).load(payment.payment_id)
    assert debits(settings) == []


def test_capture_after_valid_before_is_refused_and_writes_nothing(settings, monkeypatch):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-expired-1")
    import genesis_payments.payments.manager as manager_module

    later = payment.valid_before + timedelta(seconds=1)
    monkeypatch.setattr(manager_module, "utc_now", lambda: later)
    before = snapshot(settings)
    with pytest.raises(PaymentRefused, match="expired"):
        manager.capture(payment.payment_id)
    assert snapshot(settings) == before
    assert fake.calls["settle"] == 0


def test_settle_timeout_then_retry_ends_with_one_charge(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-timeout-1")
    fake.fail_next("settle", "timeout_after")  # settled, but the answer is lost
    with pytest.raises(FacilitatorUnavailable, match="settle"):
        manager.capture(payment.payment_id)
    assert balance(settings) == Decimal("97.5")
    assert [e.status for e in events(settings)] == ["authorized"]
    captured = manager.capture(payment.payment_id)
    assert captured.status == "captured"
    assert balance(settings) == Decimal("97.5")
    assert len(debits(settings)) == 1
    assert [e.status for e in events(settings)] == ["authorized", "captured"]


def test_settle_5xx_changes_nothing_and_a_retry_captures(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-5xx-1")
    fake.fail_next("settle", "5xx")
    with pytest.raises(FacilitatorUnavailable, match="HTTP 503"):
        manager.capture(payment.payment_id)
    assert balance(settings) == Decimal("100")
    assert manager.capture(payment.payment_id).status == "captured"
    assert balance(settings) == Decimal("97.5") and len(debits(settings)) == 1


def test_settlement_pending_then_capture_again_uses_no_second_signature(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-pending-1")
    signature = AuthorizationStore(settings).load(payment.payment_id)["payload"]["payload"]["signature"]
    fake.fail_next("settle", "settlement_pending")
    pending = manager.capture(payment.payment_id)
    assert pending.status == "settlement_pending" and pending.tx_hash
    assert debits(settings) == []
    assert AuthorizationStore(settings).load(payment.payment_id)["payload"]["payload"]["signature"] == signature
    fake.mine_pending()  # the chain mines the broadcast transaction later
    captured = manager.capture(payment.payment_id)
    assert captured.status == "captured" and captured.tx_hash == pending.tx_hash
    assert [e.status for e in events(settings)] == ["authorized", "settlement_pending", "captured"]
    assert len(debits(settings)) == 1 and balance(settings) == Decimal("97.5")
    with pytest.raises(PaymentRefused):
        manager.cancel(payment.payment_id)


def test_terminal_settle_failure_records_failed_with_the_reason(settings):
    manager, fake = in_process(settings)
    intent = approved_intent(settings)
    payment = manager.authorize(intent, "key-fail-1")
    fake.fail_next("settle", "refuse")
    with pytest.raises(SettlementFailed, match="insufficient_funds"):
        manager.capture(payment.payment_id)
    last = events(settings)[-1]
    assert (last.status, last.error, last.intent_id) == ("failed", "insufficient_funds", intent.intent_id)
    assert debits(settings) == []
    with pytest.raises(PaymentRefused, match="failed"):
        manager.capture(payment.payment_id)


def test_pay_is_authorize_then_capture_and_is_idempotent(settings):
    manager, fake = in_process(settings)
    intent = approved_intent(settings)
    first = manager.pay(intent, "key-pay-1")
    second = manager.pay(intent, "key-pay-1")
    assert first.status == "captured" and first.payment_id == second.payment_id
    assert fake.calls["settle"] == 1 and len(debits(settings)) == 1


# --- the bearer authorization --------------------------------------------------------------------


def test_stored_authorizations_are_owner_only_and_never_logged(settings, caplog):
    caplog.set_level(logging.DEBUG)
    manager, _ = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-secret-1")
    store = AuthorizationStore(settings)
    signature = store.load(payment.payment_id)["payload"]["payload"]["signature"]
    assert stat.S_IMODE(store.path_of(payment.payment_id).stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    manager.capture(payment.payment_id)
    assert "payload" not in store.load(payment.payment_id)  # destroyed once captured
    visible = caplog.text + settings.transactions_path.read_text() + settings.finance_ledger_path.read_text()
    assert signature not in visible and signature[2:] not in visible
    assert "signature" not in repr(manager.get(payment.payment_id))


def test_cancel_after_a_lost_settle_answer_is_refused_until_capture_learns_the_outcome(settings):
    manager, fake = in_process(settings)
    payment = manager.authorize(approved_intent(settings), "key-lost-1")
    fake.fail_next("settle", "timeout_after")
    with pytest.raises(FacilitatorUnavailable):
        manager.capture(payment.payment_id)
    with pytest.raises(PaymentRefused, match="outcome is unknown"):
        manager.cancel(payment.payment_id)
    assert manager.capture(payment.payment_id).status == "captured"


def test_expire_overdue_records_expired_only_past_valid_before(settings, monkeypatch):
    manager, _ = in_process(settings)
    intent = approved_intent(settings)
    payment = manager.authorize(intent, "key-expire-2")
    assert manager.expire_overdue() == []
    import genesis_payments.payments.manager as manager_module

    monkeypatch.setattr(manager_module, "utc_now", lambda: payment.valid_before)
    (expired,) = manager.expire_overdue()
    assert expired.payment_id == payment.payment_id and expired.status == "expired"
    last = events(settings)[-1]
    assert (last.status, last.intent_id) == ("expired", intent.intent_id)
    assert "payload" not in AuthorizationStore(settings).load(payment.payment_id)
    with pytest.raises(PaymentRefused, match="expired"):
        manager.capture(payment.payment_id)


def test_latest_decision_is_the_newest_line_of_that_intent_found_from_the_end(settings):
    from genesis_payments.ledgers.approval_log import ApprovalLog

    log = ApprovalLog(settings)
    base = {"agent": "a", "vendor": "v", "component": "c", "strategy": "s", "cost_usd": "1",
            "business_id": "b", "reasons": [], "policy": "p"}
    log.append({**base, "intent_id": "i-1", "decision": "pending_review"})
    for n in range(50):
        log.append({**base, "intent_id": f"other-{n}", "decision": "approved"})
    resolution = log.append({**base, "intent_id": "i-1", "decision": "approved", "resolved_by": "ops"})
    log.append({**base, "intent_id": "i-10", "decision": "denied"})  # a longer id containing "i-1"
    assert log.latest_decision("i-1") == resolution
    assert log.latest_decision("missing") is None
