"""The buyer on the real local chain: a v1-only seller, a settlement not yet mined, two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments import PaymentManager, SettlementPending
from genesis_payments.payments.fakes.sellers import LoopbackServer, fake_seller_specs, v1_seller_app
from genesis_payments.payments.vendors import VendorDirectory, VendorEntry
from tests.support.payments import approve, make_intent

VENDOR = "media:images:replicate"
AGENT = "media-agent"
PATH = "/sdxl-image?units=3"
PRICE = Decimal("0.0138")
PROJECT = Path(__file__).resolve().parents[1]


def _intent(world, vendor=VENDOR):
    intent = make_intent(agent=AGENT, vendor=vendor, cost_usd=str(PRICE), chain=None, token=None)
    approve(world.settings, intent)
    return intent


def _statuses(settings, payment_id):
    return [e.status for e in BusinessMonitor(settings).read_events().records if e.payment_id == payment_id]


def _debits(settings):
    return [e.payment_id for e in FinanceLedger(settings).read_entries().records if e.kind == "debit"]


def test_a_v1_only_seller_is_paid_over_x_payment_once(world):
    spec = next(s for s in fake_seller_specs() if s.vendor == VENDOR)
    seller = LoopbackServer(v1_seller_app(spec, world.facilitator_url)).start()
    try:
        directory = VendorDirectory(world.settings, {VENDOR: VendorEntry(VENDOR, (seller.url,))})
        manager = PaymentManager(world.settings, directory=directory)
        assert httpx.get(seller.url + PATH).json()["x402Version"] == 1
        purchase = manager.pay(_intent(world), "v1-key", url=seller.url + PATH)
    finally:
        seller.stop()
    assert purchase.payment.status == "captured" and purchase.payment.tx_hash
    assert json.loads(purchase.body)["units"] == 3
    assert "X-PAYMENT-RESPONSE" in {k.upper() for k in purchase.headers}
    assert world.balance(AGENT) == Decimal("10") - PRICE
    assert _debits(world.settings) == [purchase.payment.payment_id]


@pytest.mark.slow
def test_a_settlement_not_yet_mined_is_pending_never_failed_and_lands_once(world):
    settings = world.settings.model_copy(update={"http_timeout_seconds": 20.0})
    manager = PaymentManager(settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.facilitator_fault("settle", "settlement_pending")
    with pytest.raises(SettlementPending) as pending:
        manager.capture(payment.payment_id)
    assert pending.value.reason == "settlement_pending"
    assert _statuses(settings, payment.payment_id) == ["authorized", "settlement_pending"]
    httpx.post(f"{world.facilitator_url}/_fake/mine", timeout=10).raise_for_status()
    purchase = manager.capture(payment.payment_id)  # the same payload again, never a new signature
    assert purchase.payment.status == "captured" and purchase.payment.tx_hash
    assert manager.store.load(payment.payment_id).get("payload") is None  # destroyed once final
    # One authorization, one nonce, from the first event to the capture: it was never signed again.
    nonces = {e.nonce for e in BusinessMonitor(settings).read_events().records if e.payment_id == payment.payment_id}
    assert len(nonces) == 1 and None not in nonces
    assert _statuses(settings, payment.payment_id) == ["authorized", "settlement_pending", "captured"]
    assert world.balance(AGENT) == Decimal("10") - PRICE
    assert _debits(settings) == [payment.payment_id]


def test_resolve_learns_from_the_chain_that_a_pending_payment_settled(world):
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    world.seller_fault(VENDOR, "stall_after_settle")
    with pytest.raises(SettlementPending):
        manager.capture(payment.payment_id)
    resolved = manager.resolve(payment.payment_id)
    assert resolved.status == "captured" and resolved.tx_hash
    assert _debits(world.settings) == [payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE


@pytest.mark.slow
def test_two_processes_capturing_one_payment_at_once_settle_and_debit_once(world):
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    env = {**os.environ, "GENESIS_ROOT": str(world.settings.root), "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "tests.support.crash_buyer", "capture", "never", payment.payment_id]
    racers = [subprocess.Popen(command, env=env, cwd=PROJECT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for racer in racers:
        assert racer.wait(timeout=120) == 0, racer.stderr.read()
    assert _statuses(world.settings, payment.payment_id).count("captured") == 1
    assert _debits(world.settings) == [payment.payment_id]
    assert world.balance(AGENT) == Decimal("10") - PRICE


def test_a_402_for_a_nonce_already_used_is_judged_by_the_chain_and_captured_once(world):
    from x402.http import FacilitatorConfig, HTTPFacilitatorClientSync
    from x402.schemas import PaymentPayload

    manager = PaymentManager(world.settings)
    payment = manager.authorize(_intent(world), "key-1", url=world.url(VENDOR, PATH))
    # The bearer payload is settled behind the buyer's back (its holder used it), then the
    # facilitator forgets it: the seller can now only refuse the payload as spent.
    payload = PaymentPayload.model_validate(manager.store.load(payment.payment_id)["payload"])
    facilitator = HTTPFacilitatorClientSync(FacilitatorConfig(url=world.facilitator_url))
    assert facilitator.settle(payload, payload.accepted).success
    httpx.post(f"{world.facilitator_url}/_fake/reset", timeout=10).raise_for_status()
    purchase = manager.capture(payment.payment_id)
    assert purchase.payment.status == "captured" and purchase.payment.tx_hash
    assert _statuses(world.settings, payment.payment_id) == ["authorized", "settlement_pending", "captured"]
    assert world.balance(AGENT) == Decimal("10") - PRICE
    assert _debits(world.settings) == [payment.payment_id]
