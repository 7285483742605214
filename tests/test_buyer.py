"""The agent as an x402 buyer against the SDK's own sellers on loopback (§9)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from decimal import Decimal

import pytest
from x402 import x402Client
from x402.http.clients.httpx import x402HttpxClient
from x402.mechanisms.evm.exact.register import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner

from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments import (
    NotApproved,
    PaymentManager,
    PaymentRefused,
    SettlementFailed,
    SettlementPending,
)
from genesis_payments.payments.fakes.fake_keys import fake_account
from tests.support.payments import approve, make_intent
from tests.support.world import World

VENDOR = "media:images:replicate"
AGENT = "media-agent"
PATH = "/sdxl-image?units=3"  # 3 × 0.0046
PRICE = Decimal("0.013800")


def _intent(world: World, cost: str = "0.0138", **overrides):
    intent = make_intent(agent=AGENT, vendor=VENDOR, cost_usd=cost, chain=None, token=None, **overrides)
    approve(world.settings, intent)
    return intent


def _events(settings: Settings, payment_id: str | None = None) -> list[str]:
    return [e.status for e in BusinessMonitor(settings).read_events().records
            if payment_id is None or e.payment_id == payment_id]


def _debits(settings: Settings) -> list[str]:
    return [e.payment_id for e in FinanceLedger(settings).read_entries().records if e.kind == "debit"]


def test_a_purchase_settles_once_and_hands_over_the_resource(world: World) -> None:
    manager = PaymentManager(world.settings)
    intent = _intent(world)
    purchase = manager.pay(intent, "key-1", url=world.url(VENDOR, PATH))
    assert purchase.payment.status == "captured"
    assert purchase.payment.amount_usd == PRICE
    assert json.loads(purchase.body)["units"] == 3
    assert purchase.settlement is not None and purchase.settlement.success
    assert _events(world.settings) == ["authorized", "settlement_pending", "captured"]
    assert _debits(world.settings) == [purchase.payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE
    again = manager.capture(purchase.payment.payment_id)
    assert again.payment.status == "captured"
    assert _debits(world.settings) == [purchase.payment.payment_id]
    assert manager.get(purchase.payment.payment_id).status == "captured"


def test_the_sdks_own_buyer_and_ours_pay_the_same_seller(world: World) -> None:
    async def sdk_buy() -> int:
        client = x402Client()
        register_exact_evm_client(client, EthAccountSigner(fake_account(AGENT)))
        async with x402HttpxClient(client) as http:
            return (await http.get(world.url(VENDOR, PATH))).status_code

    assert asyncio.run(sdk_buy()) == 200
    purchase = PaymentManager(world.settings).pay(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    assert purchase.payment.status == "captured"
    assert world.balance(AGENT) == Decimal("10") - 2 * PRICE


def test_a_live_price_above_the_approval_is_refused_before_signing(world: World) -> None:
    manager = PaymentManager(world.settings)
    intent = _intent(world, cost="0.0010")
    with pytest.raises(NotApproved, match=r"asks 0\.013800 USDC but .* approved for 0\.001000"):
        manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    assert _events(world.settings) == []


def test_one_approval_pays_once_whatever_the_keys(store: str, world: World) -> None:
    manager = PaymentManager(world.settings)
    intent = _intent(world)
    first = manager.pay(intent, "key-1", url=world.url(VENDOR, PATH))
    for key in ("key-2", "key-3"):
        with pytest.raises(PaymentRefused, match="one approval pays once"):
            manager.authorize(intent, key, url=world.url(VENDOR, PATH))
    assert manager.authorize(intent, "key-1").payment_id == first.payment.payment_id
    assert _debits(world.settings) == [first.payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE


def test_a_cancelled_payment_frees_the_approval_for_one_new_authorization(store: str, world: World) -> None:
    manager = PaymentManager(world.settings)
    intent = _intent(world)
    first = manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    manager.cancel(first.payment_id)
    with pytest.raises(PaymentRefused, match="cancelled"):
        manager.capture(first.payment_id)
    second = manager.pay(intent, "key-2", url=world.url(VENDOR, PATH))
    assert second.payment.status == "captured"
    with pytest.raises(PaymentRefused, match="captured"):
        manager.cancel(second.payment.payment_id)
    assert _debits(world.settings) == [second.payment.payment_id]


def test_an_approval_for_another_business_does_not_pay_this_one(world: World) -> None:
    manager = PaymentManager(world.settings)
    approved = _intent(world, business_id="biz-open")
    asked = approved.model_copy(update={"business_id": "biz-capped"})
    with pytest.raises(NotApproved, match="business 'biz-open'"):
        manager.authorize(asked, "key-1", url=world.url(VENDOR, PATH))


def test_an_answer_lost_after_settlement_ends_with_one_charge_and_the_resource(store: str, world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "stall_after_settle")
    with pytest.raises(SettlementPending):
        manager.capture(payment.payment_id)
    assert _events(world.settings, payment.payment_id) == ["authorized", "settlement_pending"]
    purchase = manager.capture(payment.payment_id)
    assert purchase.payment.status == "captured"
    assert json.loads(purchase.body)["units"] == 3
    assert _debits(world.settings) == [payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE


def test_a_5xx_after_settlement_is_pending_and_the_retry_captures_once(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "error_after_settle")
    with pytest.raises(SettlementPending, match="HTTP 502"):
        manager.capture(payment.payment_id)
    assert manager.capture(payment.payment_id).payment.status == "captured"
    assert world.balance(AGENT) == Decimal("10") - PRICE
    assert _debits(world.settings) == [payment.payment_id]


def test_a_seller_that_hangs_leaves_the_payment_pending_and_nothing_moved(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "hang")
    with pytest.raises(SettlementPending, match="no answer"):
        manager.capture(payment.payment_id)
    assert world.balance(AGENT) == Decimal("10")
    assert manager.capture(payment.payment_id).payment.status == "captured"
    assert world.balance(AGENT) == Decimal("10") - PRICE


def test_a_redirect_is_not_followed_with_the_payment(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "redirect")
    with pytest.raises(SettlementPending, match=re.escape("redirected to http://127.0.0.2:9/elsewhere; not followed")):
        manager.capture(payment.payment_id)
    assert world.balance(AGENT) == Decimal("10")


def test_a_refused_settlement_is_failed_and_releases_nothing_twice(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.facilitator_fault("settle", "insufficient_funds")
    with pytest.raises(SettlementFailed, match="insufficient_funds"):
        manager.capture(payment.payment_id)
    assert _events(world.settings, payment.payment_id) == ["authorized", "settlement_pending", "failed"]
    assert _debits(world.settings) == []
    with pytest.raises(PaymentRefused, match="failed"):
        manager.capture(payment.payment_id)


def test_two_captures_of_one_payment_at_once_settle_once(store: str, world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    results: list[str] = []

    def capture() -> None:
        results.append(PaymentManager(world.settings).capture(payment.payment_id).payment.status)

    threads = [threading.Thread(target=capture) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["captured", "captured"]
    assert _events(world.settings, payment.payment_id).count("captured") == 1
    assert _debits(world.settings) == [payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE


def test_a_pay_to_changed_between_quote_and_capture_fails_without_moving_money(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "new_pay_to")
    with pytest.raises(SettlementFailed):
        manager.capture(payment.payment_id)
    assert world.balance(AGENT) == Decimal("10")
    assert _events(world.settings, payment.payment_id)[-1] == "failed"


def test_a_200_without_payment_response_stays_pending_with_the_reason(world: World) -> None:
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "no_payment_response")
    with pytest.raises(SettlementPending, match="without a successful PAYMENT-RESPONSE"):
        manager.capture(payment.payment_id)
    assert _events(world.settings, payment.payment_id) == ["authorized", "settlement_pending"]
    assert _debits(world.settings) == []
    # The seller kept its answer under the payment identifier: the retry gets the settlement.
    assert manager.capture(payment.payment_id).payment.status == "captured"
    assert _debits(world.settings) == [payment.payment_id]


def test_buy_on_the_command_line_pays_and_writes_the_body(world: World, tmp_path, capsys) -> None:
    from genesis_payments.cli.main import main

    out = tmp_path / "image.json"
    code = main(["buy", world.url(VENDOR, PATH), "--agent", AGENT, "--output", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["payment"]["status"] == "captured" and report["payment"]["amount_usd"] == "0.013800"
    assert json.loads(out.read_text())["units"] == 3
    assert _debits(world.settings) == [report["payment"]["payment_id"]]


def test_buy_refuses_a_price_over_max_usd_before_signing(world: World, capsys) -> None:
    from genesis_payments.cli.main import main

    assert main(["buy", world.url(VENDOR, PATH), "--agent", AGENT, "--max-usd", "0.01"]) == 1
    assert "over the --max-usd of 0.010000" in capsys.readouterr().err
    assert _events(world.settings) == []


def test_a_halt_refuses_captures_in_its_scope_but_cancel_still_works(world: World) -> None:
    from genesis_payments.approvals.halts import halt, resume

    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    halt(world.settings, "agent", AGENT, reason="runaway spending", by="ops")
    with pytest.raises(PaymentRefused, match="halted"):
        manager.capture(payment.payment_id)
    assert world.balance(AGENT) == Decimal("10")
    resume(world.settings, "agent", AGENT, by="ops")
    assert manager.capture(payment.payment_id).payment.status == "captured"
    other = manager.authorize(_intent(world), "key-2", url=world.url(VENDOR, PATH))
    halt(world.settings, "vendor", VENDOR, reason="vendor compromised", by="ops")
    assert manager.cancel(other.payment_id).status == "cancelled"
