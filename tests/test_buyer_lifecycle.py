"""The buyer's lifecycle rules (§9): idempotency, refusals that write nothing, expiry, the bearer payload."""

from __future__ import annotations

import logging
import stat

import pytest

import genesis_payments.payments.manager as manager_module
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.payments import (
    IdempotencyConflict,
    NotApproved,
    PaymentManager,
    PaymentRefused,
    SettlementPending,
    VendorNotSupported,
)
from genesis_payments.payments.store import AuthorizationStore
from tests.support.payments import approve, make_intent

VENDOR = "media:images:replicate"
AGENT = "media-agent"
PATH = "/sdxl-image?units=3"


def _intent(world, cost="0.0138", decision="approved", **overrides):
    intent = make_intent(agent=AGENT, vendor=VENDOR, cost_usd=cost, chain=None, token=None, **overrides)
    approve(world.settings, intent, decision=decision)
    return intent


def _events(settings):
    return BusinessMonitor(settings).read_events().records


def test_one_key_authorized_twice_is_one_payment_with_the_full_event(world):
    manager = PaymentManager(world.settings)
    intent = _intent(world)
    first = manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    again = manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    assert first.payment_id == again.payment_id
    (event,) = _events(world.settings)
    assert (event.status, event.intent_id, event.idempotency_key) == ("authorized", intent.intent_id, "key-1")
    assert event.resource_url == world.url(VENDOR, PATH)
    assert event.pay_to and event.asset and event.nonce and event.payer and event.valid_before
    assert event.decision_hash is not None and len(event.decision_hash) == 64


def test_one_key_for_two_intents_is_refused(world):
    manager = PaymentManager(world.settings)
    manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    with pytest.raises(IdempotencyConflict, match="belongs to payment"):
        manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))


@pytest.mark.parametrize("decision", ["denied", "pending_review", None])
def test_authorize_without_an_approval_is_refused_and_writes_nothing(world, decision):
    if decision is None:
        intent = make_intent(agent=AGENT, vendor=VENDOR, cost_usd="0.0138", chain=None, token=None)
    else:
        intent = _intent(world, decision=decision)
    with pytest.raises(NotApproved):
        PaymentManager(world.settings).authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    assert _events(world.settings) == []
    assert AuthorizationStore(world.settings).all() == []


def test_a_url_of_another_vendors_seller_is_refused(world):
    intent = _intent(world)
    with pytest.raises(PaymentRefused, match="belongs to vendor 'llm:openai'"):
        PaymentManager(world.settings).authorize(intent, "key-1", url=world.url("llm:openai", "/gpt-4o-1k-tokens"))


def test_an_origin_that_is_no_vendors_is_refused(world):
    with pytest.raises(VendorNotSupported, match="no known vendor"):
        PaymentManager(world.settings).quote("http://127.0.0.1:9/sdxl-image")


def test_settlement_pending_then_capture_again_re_sends_the_same_payload(world):
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    signature = AuthorizationStore(world.settings).load(payment.payment_id)["payload"]["payload"]["signature"]
    world.seller_fault(VENDOR, "stall_after_settle")
    with pytest.raises(SettlementPending):
        manager.capture(payment.payment_id)
    assert AuthorizationStore(world.settings).load(payment.payment_id)["payload"]["payload"]["signature"] == signature
    with pytest.raises(PaymentRefused, match="outcome"):
        manager.cancel(payment.payment_id)
    assert manager.capture(payment.payment_id).payment.status == "captured"


def test_stored_authorizations_are_owner_only_and_never_logged(world, caplog):
    caplog.set_level(logging.DEBUG)
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    store = AuthorizationStore(world.settings)
    signature = store.load(payment.payment_id)["payload"]["payload"]["signature"]
    assert stat.S_IMODE((store.dir / f"{payment.payment_id}.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    manager.capture(payment.payment_id)
    assert "payload" not in store.load(payment.payment_id)
    settings = world.settings
    visible = caplog.text + settings.transactions_path.read_text() + settings.finance_ledger_path.read_text()
    assert signature not in visible and signature[2:] not in visible
    assert "signature" not in repr(manager.get(payment.payment_id))


def test_an_authorization_past_valid_before_expires_and_can_never_be_captured(world, monkeypatch):
    manager = PaymentManager(world.settings)
    intent = _intent(world)
    payment = manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    assert manager.expire_overdue() == []
    monkeypatch.setattr(manager_module, "utc_now", lambda: payment.valid_before)
    (expired,) = manager.expire_overdue()
    assert (expired.payment_id, expired.status) == (payment.payment_id, "expired")
    assert [e.status for e in _events(world.settings)] == ["authorized", "expired"]
    assert "payload" not in AuthorizationStore(world.settings).load(payment.payment_id)
    with pytest.raises(PaymentRefused, match="expired"):
        manager.capture(payment.payment_id)
    # The approval may now pay once more: its only payment ended without moving money.
    monkeypatch.undo()
    assert manager.pay(intent, "key-2", url=world.url(VENDOR, PATH)).payment.status == "captured"
