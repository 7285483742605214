"""Fake mode's facilitator: the SDK's own facilitator on the local chain (anvil + USDC), v2 HTTP shapes."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from x402.schemas import SettleResponse

from genesis_payments.payments import FacilitatorClient, FacilitatorError, FacilitatorUnavailable, fund_fake_wallets
from genesis_payments.payments.facilitator_client import request_body
from genesis_payments.payments.fakes.facilitator import CONFLICT, LocalFacilitator, facilitator_transport
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address
from genesis_payments.payments.signing import build_requirements, payment_identifier_for, sign_payment
from genesis_payments.payments.vendor_cache import VendorCapabilityCache

NETWORK = "eip155:84532"


@pytest.fixture
def rig(settings, local_chain):
    fund_fake_wallets(settings, {"alice": Decimal("10")})
    fake = LocalFacilitator(local_chain.rpc_url, confirmation_timeout_seconds=1.0)
    client = FacilitatorClient("http://fake.invalid", timeout_seconds=5, transport=facilitator_transport(fake))
    cache = VendorCapabilityCache(settings)
    caps = cache.get("media:images:replicate")

    def signed(amount: int = 4600, agent: str = "alice", timeout: int = 300, key: str = "pay_test_identifier_1"):
        requirements = build_requirements(caps, NETWORK, cache.network_terms(caps, NETWORK), amount, timeout)
        return sign_payment(fake_account(agent), requirements, key, "genesis://test"), requirements

    return fake, client, signed


def tamper(payload, **authorization):
    data = payload.model_dump(by_alias=True, exclude_none=True)
    data["payload"]["authorization"].update(authorization)
    return type(payload).model_validate(data)


def balance(chain, settings, agent: str) -> Decimal:
    return Decimal(chain.balance_micro(settings, fake_address(agent))) / 1_000_000


def test_supported_lists_exact_on_base_sepolia_its_signer_and_payment_identifier(rig):
    fake, client, _signed = rig
    supported = client.get_supported()
    assert {(k.x402_version, k.scheme, k.network) for k in supported.kinds} == {(2, "exact", "eip155:84532")}
    assert supported.signers["eip155:*"] == [fake.address]
    assert supported.extensions == ["payment-identifier"]


def test_a_valid_payload_verifies_and_settles_on_chain(rig, settings, local_chain):
    fake, client, signed = rig
    payload, requirements = signed()
    assert payload.x402_version == 2 and payload.accepted == requirements
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
def test_a_tampered_authorization_is_refused_with_the_x402_reason(rig, change, reason):
    _fake, client, signed = rig
    payload, requirements = signed()
    result = client.verify(tamper(payload, **change), requirements)
    assert (result.is_valid, result.invalid_reason) == (False, reason)
    settled = client.settle(tamper(payload, **change), requirements)
    assert (settled.success, settled.error_reason) == (False, reason)


@pytest.mark.parametrize("field", ["value", "to"], ids=["amount", "payee"])
def test_amount_or_payee_tampered_consistently_fails_the_signature(rig, field):
    _fake, client, signed = rig
    payload, requirements = signed()
    if field == "value":
        requirements = requirements.model_copy(update={"amount": "9999"})
        forged = tamper(payload, value="9999")
    else:
        thief = fake_address("mallory")
        requirements = requirements.model_copy(update={"pay_to": thief})
        forged = tamper(payload, to=thief)
    result = client.verify(forged, requirements)
    assert (result.is_valid, result.invalid_reason) == (False, "invalid_exact_evm_payload_signature")


def test_a_window_that_ran_out_is_refused(rig):
    _fake, client, signed = rig
    payload, requirements = signed(timeout=3)  # valid_before inside the SDK's 6-second margin
    result = client.verify(payload, requirements)
    assert (result.is_valid, result.invalid_reason) == (False, "invalid_exact_evm_payload_authorization_valid_before")


def test_a_reused_nonce_is_refused(rig, settings, local_chain):
    _fake, client, signed = rig
    payload, requirements = signed()
    assert client.settle(payload, requirements).success
    replay = client.verify(payload, requirements)
    assert (replay.is_valid, replay.invalid_reason) == (False, "invalid_exact_evm_nonce_already_used")
    # The same signature under a fresh payment-identifier is not deduplicated: the token refuses it
    # (the SDK reports the refused transaction as `transaction_failed`).
    data = payload.model_dump(by_alias=True, exclude_none=True)
    data["extensions"]["payment-identifier"]["info"]["id"] = "pay_another_identifier_2"
    again = client.settle(type(payload).model_validate(data), requirements)
    assert again.success is False and again.error_reason in ("invalid_exact_evm_nonce_already_used",
                                                             "transaction_failed")
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")


def test_same_payment_identifier_and_payload_gets_the_cached_settlement(rig, settings, local_chain):
    _fake, client, signed = rig
    payload, requirements = signed(key="pay_same_identifier_1")
    first = client.settle(payload, requirements)
    again = client.settle(payload, requirements)
    assert first.success and again == first
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")


def test_same_payment_identifier_with_another_payload_is_409_with_a_settle_body(rig):
    _fake, client, signed = rig
    first, requirements = signed(key="pay_same_identifier_1")
    assert client.settle(first, requirements).success
    second, requirements = signed(key="pay_same_identifier_1")
    response = client._http.post("/settle", json=request_body(second, requirements))
    assert response.status_code == 409
    assert response.json() == {"success": False, "errorReason": CONFLICT, "transaction": "", "network": NETWORK,
                               "payer": fake_address("alice"),
                               "errorMessage": "payment-identifier was used with another payload"}
    with pytest.raises(FacilitatorError, match="settle failed: HTTP 409"):
        client.settle(second, requirements)


def test_injected_failures_name_the_call(rig):
    fake, client, signed = rig
    payload, requirements = signed()
    fake.fail_next("verify", "timeout")
    with pytest.raises(FacilitatorUnavailable, match="facilitator verify failed: timed out"):
        client.verify(payload, requirements)
    fake.fail_next("supported", "5xx")
    with pytest.raises(FacilitatorUnavailable, match="facilitator supported failed: HTTP 503"):
        client.get_supported()
    fake.fail_next("settle", "refuse")
    assert client.settle(payload, requirements).error_reason == "insufficient_funds"
    with pytest.raises(ValueError):
        fake.fail_next("verify", "settlement_pending")


def test_bad_bodies_are_400_with_a_body_shaped_for_the_call(rig):
    _fake, client, _signed = rig
    response = client._http.post("/verify", json={"x402Version": 1})
    assert response.status_code == 400 and response.json()["isValid"] is False
    assert response.json()["invalidReason"] == "invalid_payload"
    response = client._http.post("/settle", content=b"not json")
    assert response.status_code == 400
    assert SettleResponse.model_validate(response.json()).error_reason == "invalid_payload"
    response = client._http.post("/settle", json={"x402Version": 2, "paymentRequirements": {"network": NETWORK}})
    assert SettleResponse.model_validate(response.json()).network == NETWORK


def test_unreachable_facilitator_is_unavailable_naming_the_call():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = FacilitatorClient("http://127.0.0.1:9", timeout_seconds=1, transport=httpx.MockTransport(refuse))
    with pytest.raises(FacilitatorUnavailable, match="facilitator supported failed: cannot reach"):
        client.get_supported()


def test_payment_identifier_for_keeps_valid_ids_and_hashes_others():
    assert payment_identifier_for("pay_0123456789abcdef") == "pay_0123456789abcdef"
    mapped = payment_identifier_for("deploy:site/1")
    assert mapped.startswith("idem_") and mapped == payment_identifier_for("deploy:site/1")


def test_a_timeout_after_processing_has_settled_and_the_retry_gets_that_settlement(rig, settings, local_chain):
    fake, client, signed = rig
    payload, requirements = signed(key="pay_lost_answer_0001")
    fake.fail_next("settle", "timeout_after")
    with pytest.raises(FacilitatorUnavailable, match="timed out"):
        client.settle(payload, requirements)
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")  # the money moved
    again = client.settle(payload, requirements)
    assert again.success and again.transaction.startswith("0x")
    assert balance(local_chain, settings, "alice") == Decimal("9.9954")  # and only once


@pytest.mark.slow
def test_settlement_not_mined_in_time_is_pending_with_its_hash_then_lands(rig, settings, local_chain):
    fake, client, signed = rig
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
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "genesis_payments.payments.fakes.facilitator",
                                "--rpc", local_chain.rpc_url, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/supported", timeout=10).json()["extensions"] == ["payment-identifier"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
