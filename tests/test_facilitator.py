"""Fake mode's facilitator: the SDK's own facilitator on the local chain (anvil + USDC), v2 HTTP shapes.

Driven through the SDK's own HTTP facilitator client (`HTTPFacilitatorClientSync`), so the wire is
the one every x402 seller speaks; payloads are signed by the SDK's own client scheme.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from x402 import x402ClientSync
from x402.http import FacilitatorConfig, HTTPFacilitatorClientSync
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.exact import ExactEvmClientScheme
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo, SettleResponse

from genesis_payments.payments.fakes.facilitator import CONFLICT
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address, fund_fake_wallets
from genesis_payments.payments.fakes.local_chain import usdc_asset

NETWORK = "eip155:84532"
PAY_TO = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture
def rig(settings, local_chain, facilitator):
    fund_fake_wallets(settings, {"alice": Decimal("10")})
    client = HTTPFacilitatorClientSync(FacilitatorConfig(url=facilitator.url, timeout=5))
    asset = usdc_asset()

    def signed(amount: int = 4600, agent: str = "alice", timeout: int = 300, key: str | None = "pay_test_identifier_1"):
        requirements = PaymentRequirements(
            scheme="exact", network=NETWORK, asset=asset["address"], amount=str(amount), pay_to=PAY_TO,
            max_timeout_seconds=timeout, extra={"name": asset["name"], "version": asset["version"]})
        buyer = x402ClientSync()
        buyer.register("eip155:*", ExactEvmClientScheme(EthAccountSigner(fake_account(agent))))
        required = PaymentRequired(x402_version=2, resource=ResourceInfo(url="http://127.0.0.1/test"),
                                   accepts=[requirements])
        payload = buyer.create_payment_payload(required)
        if key is not None:  # the extension sits outside what the EIP-3009 signature covers
            payload = payload.model_copy(update={"extensions": {"payment-identifier": {"info": {"id": key}}}})
        return payload, requirements

    return facilitator.facilitator, client, signed, facilitator.url


def body(payload: PaymentPayload, requirements: PaymentRequirements) -> dict:
    return {"x402Version": 2, "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "paymentRequirements": requirements.model_dump(by_alias=True, exclude_none=True, mode="json")}


def tamper(payload, **authorization):
    data = payload.model_dump(by_alias=True, exclude_none=True)
    data["payload"]["authorization"].update(authorization)
    return type(payload).model_validate(data)


def balance(chain, settings, agent: str) -> Decimal:
    return Decimal(chain.balance_micro(settings, fake_address(agent))) / 1_000_000


def test_supported_lists_exact_on_base_sepolia_its_signer_and_payment_identifier(rig):
    fake, client, _signed, _url = rig
    supported = client.get_supported()
    # v2 by CAIP-2, and v1 by its legacy name for the v1-only sellers.
    assert {(k.x402_version, k.scheme, k.network) for k in supported.kinds} == {
        (2, "exact", NETWORK), (1, "exact", "base-sepolia")}
    assert supported.signers["eip155:*"] == [fake.address]
    assert supported.extensions == ["payment-identifier"]


def test_a_valid_payload_verifies_and_settles_on_chain(rig, settings, local_chain):
    fake, client, signed, _url = rig
    payload, requirements = signed()
    verified = client.verify(payload, requirements)
    assert verified.is_valid and verified.payer == fake_address("alice")
    settled = client.settle(payload, requirements)
    assert settled.success and settled.transaction.startswith("0x") and settled.network == NETWORK
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")
    receipt = local_chain.w3.eth.get_transaction_receipt(settled.transaction)
    assert receipt["status"] == 1 and receipt["from"] == fake.address


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"value": "4601"}, "invalid_exact_evm_payload_authorization_value_mismatch"),
        ({"to": "0x000000000000000000000000000000000000dEaD"}, "invalid_exact_evm_payload_recipient_mismatch"),
        ({"validBefore": "1700000000"}, "invalid_exact_evm_payload_authorization_valid_before"),
        ({"validAfter": "4102444800"}, "invalid_exact_evm_payload_authorization_valid_after"),
    ],
    ids=["amount", "payee", "expired-window", "future-window"],
)
def test_a_tampered_authorization_is_refused_with_the_x402_reason(rig, settings, local_chain, change, reason):
    _fake, client, signed, _url = rig
    payload, requirements = signed()
    result = client.verify(tamper(payload, **change), requirements)
    assert (result.is_valid, result.invalid_reason) == (False, reason)
    settled = client.settle(tamper(payload, **change), requirements)
    assert (settled.success, settled.error_reason) == (False, reason)
    assert balance(local_chain, settings, "alice") == Decimal("10")


def test_a_reused_nonce_is_refused_and_nothing_moves_twice(rig, settings, local_chain):
    _fake, client, signed, _url = rig
    payload, requirements = signed()
    assert client.settle(payload, requirements).success
    replay = client.verify(payload, requirements)
    assert (replay.is_valid, replay.invalid_reason) == (False, "invalid_exact_evm_nonce_already_used")
    # The same signature under a fresh payment-identifier is not deduplicated: the token refuses it
    # (the SDK reports the refused transaction as `transaction_failed`).
    again = client.settle(payload.model_copy(update={"extensions": {"payment-identifier": {"info": {
        "id": "pay_another_identifier_2"}}}}), requirements)
    assert again.success is False
    assert again.error_reason in ("invalid_exact_evm_nonce_already_used", "transaction_failed")
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")


def test_same_payment_identifier_and_payload_gets_the_cached_settlement(rig, settings, local_chain):
    _fake, client, signed, _url = rig
    payload, requirements = signed(key="pay_same_identifier_1")
    first = client.settle(payload, requirements)
    again = client.settle(payload, requirements)
    assert first.success and again == first
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")


def test_same_payment_identifier_with_another_payload_is_409_with_a_settle_body(rig):
    _fake, client, signed, url = rig
    first, requirements = signed(key="pay_same_identifier_1")
    assert client.settle(first, requirements).success
    second, requirements = signed(key="pay_same_identifier_1")
    response = httpx.post(url + "/settle", json=body(second, requirements))
    assert response.status_code == 409
    assert response.json() == {"success": False, "errorReason": CONFLICT, "transaction": "", "network": NETWORK,
                               "payer": fake_address("alice"),
                               "errorMessage": "payment-identifier was used with another payload"}
    verify = httpx.post(url + "/verify", json=body(second, requirements))
    assert verify.status_code == 409 and verify.json()["invalidReason"] == CONFLICT


def test_injected_failures(rig, settings, local_chain):
    fake, client, signed, _url = rig
    payload, requirements = signed()
    fake.fail_next("verify", "timeout")
    with pytest.raises(httpx.TimeoutException):
        HTTPFacilitatorClientSync(FacilitatorConfig(url=_url, timeout=0.5)).verify(payload, requirements)
    fake.fail_next("supported", "5xx")
    with pytest.raises(ValueError, match="503"):
        client.get_supported()
    fake.fail_next("settle", "refuse")
    refused = client.settle(payload, requirements)
    assert (refused.success, refused.error_reason, refused.transaction) == (False, "insufficient_funds", "")
    assert balance(local_chain, settings, "alice") == Decimal("10")
    with pytest.raises(ValueError):
        fake.fail_next("verify", "settlement_pending")
    with pytest.raises(ValueError):
        fake.fail_next("settle", "nonsense")


def test_bad_bodies_are_400_with_a_body_shaped_for_the_call(rig):
    _fake, _client, _signed, url = rig
    response = httpx.post(url + "/verify", json={"x402Version": 1})
    assert response.status_code == 400 and response.json()["isValid"] is False
    assert response.json()["invalidReason"] == "invalid_payload"
    response = httpx.post(url + "/settle", content=b"not json")
    assert response.status_code == 400
    assert SettleResponse.model_validate(response.json()).error_reason == "invalid_payload"
    response = httpx.post(url + "/settle", json={"x402Version": 2, "paymentRequirements": {"network": NETWORK}})
    assert SettleResponse.model_validate(response.json()).network == NETWORK


def test_a_timeout_after_processing_has_settled_and_the_retry_gets_that_settlement(rig, settings, local_chain):
    fake, client, signed, url = rig
    payload, requirements = signed(key="pay_lost_answer_0001")
    fake.fail_next("settle", "timeout_after")
    with pytest.raises(httpx.TimeoutException):
        HTTPFacilitatorClientSync(FacilitatorConfig(url=url, timeout=0.5)).settle(payload, requirements)
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")  # the money moved
    again = client.settle(payload, requirements)
    assert again.success and again.transaction.startswith("0x")
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")  # and only once


@pytest.mark.slow
def test_settlement_not_mined_in_time_is_pending_with_its_hash_then_lands(rig, settings, local_chain):
    fake, client, signed, _url = rig
    payload, requirements = signed(key="pay_pending_000001")
    fake.fail_next("settle", "settlement_pending")
    pending = client.settle(payload, requirements)
    assert (pending.success, pending.error_reason) == (False, "settlement_pending")
    assert pending.transaction.startswith("0x")
    assert balance(local_chain, settings, "alice") == Decimal("10")  # not mined yet
    retry = client.settle(payload, requirements)  # the SDK's pending store: same hash, nothing new sent
    assert (retry.error_reason, retry.transaction) == ("settlement_pending", pending.transaction)
    fake.mine_pending()
    landed = client.settle(payload, requirements)
    assert landed.success and landed.transaction == pending.transaction
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")


def test_fault_orders_over_http_are_checked(facilitator):
    response = httpx.post(facilitator.url + "/_fake/fail", json={"call": "settle", "kind": "nonsense"})
    assert response.status_code == 400
    assert httpx.post(facilitator.url + "/_fake/fail", json={"call": "supported", "kind": "5xx"}).json() == {"ok": True}
    assert httpx.get(facilitator.url + "/supported").status_code == 503
    assert httpx.get(facilitator.url + "/supported").status_code == 200


@pytest.mark.slow
def test_the_module_runs_as_its_own_process_on_a_free_port(local_chain):
    process = subprocess.Popen([sys.executable, "-m", "genesis_payments.payments.fakes.facilitator",
                                "--rpc", local_chain.rpc_url, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/supported", timeout=10).json()["extensions"] == ["payment-identifier"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
