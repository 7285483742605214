"""The fake facilitator: the SDK's real exact-EVM checks over the simulated chain, v2 HTTP shapes."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from genesis_payments.payments import FacilitatorClient, FacilitatorError, FacilitatorUnavailable, fund_fake_wallets
from genesis_payments.payments.fakes.fake_chain import FAKE_NETWORKS, USDC_TOKENS
from genesis_payments.payments.fakes.fake_facilitator import FakeFacilitator, fake_transport
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address
from genesis_payments.payments.signing import build_requirements, payment_identifier_for, sign_payment
from genesis_payments.payments.vendor_cache import USDC_BY_NETWORK, VendorCapabilityCache
from genesis_payments.payments.wallets import FakeWallets

NETWORK = "eip155:84532"


@pytest.fixture
def rig(settings):
    fund_fake_wallets(settings, {"alice": Decimal("10")})
    fake = FakeFacilitator(settings)
    client = FacilitatorClient("http://fake.invalid", timeout_seconds=5, transport=fake_transport(fake))
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


def test_usdc_domains_match_the_sdk_default_assets():
    assert {n: {k: USDC_TOKENS[n][k] for k in ("asset", "name", "version")} for n in FAKE_NETWORKS} == USDC_BY_NETWORK


def test_supported_lists_exact_on_base_networks_with_a_signer(rig):
    _fake, client, _signed = rig
    supported = client.get_supported()
    assert {(k.x402_version, k.scheme, k.network) for k in supported.kinds} == {
        (2, "exact", "eip155:8453"), (2, "exact", "eip155:84532")}
    assert supported.signers["eip155:*"]


def test_a_valid_payload_verifies_and_settles_debiting_the_fake_wallet(rig, settings):
    _fake, client, signed = rig
    payload, requirements = signed()
    assert payload.x402_version == 2 and payload.accepted == requirements
    verified = client.verify(payload, requirements)
    assert verified.is_valid and verified.payer == fake_address("alice")
    settled = client.settle(payload, requirements)
    assert settled.success and settled.transaction.startswith("0x") and settled.network == NETWORK
    assert FakeWallets(settings.fake_wallets_path).balance("alice") == Decimal("9.9954")


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


def test_a_reused_nonce_is_refused(rig, settings):
    _fake, client, signed = rig
    payload, requirements = signed()
    assert client.settle(payload, requirements).success
    replay = client.verify(payload, requirements)
    assert (replay.is_valid, replay.invalid_reason) == (False, "invalid_exact_evm_nonce_already_used")
    # The same signature under a fresh payment-identifier is not deduplicated: the chain refuses it.
    data = payload.model_dump(by_alias=True, exclude_none=True)
    data["extensions"]["payment-identifier"]["info"]["id"] = "pay_another_identifier_2"
    again = client.settle(type(payload).model_validate(data), requirements)
    assert (again.success, again.error_reason) == (False, "invalid_exact_evm_nonce_already_used")
    assert FakeWallets(settings.fake_wallets_path).balance("alice") == Decimal("9.9954")


def test_same_payment_identifier_with_another_payload_is_409(rig):
    _fake, client, signed = rig
    first, requirements = signed(key="pay_same_identifier_1")
    assert client.settle(first, requirements).success
    second, requirements = signed(key="pay_same_identifier_1")
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
    fake.fail_next("settle", "insufficient_funds")
    assert client.settle(payload, requirements).error_reason == "insufficient_funds"
    with pytest.raises(ValueError):
        fake.fail_next("verify", "settlement_pending")


def test_bad_bodies_are_400_with_a_reason(rig):
    _fake, client, _signed = rig
    response = client._http.post("/verify", json={"x402Version": 1})
    assert response.status_code == 400 and response.json()["invalidReason"] == "invalid_x402_version"


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
