"""Reading a seller's 402 (§9): v2 header, v1 body, offers refused with their reasons, decimals."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import httpx
import pytest

from genesis_payments.core.settings import Settings
from genesis_payments.payments import ChallengeError, NoAcceptableOffer, PaymentManager
from genesis_payments.payments.challenge import MAX_CHALLENGE_BYTES, best_offer, payable_offers, read_challenge
from genesis_payments.payments.vendors import VendorDirectory, VendorEntry

USDC_SEPOLIA = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
DAI = "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb"
PAY_TO = "0x" + "ab" * 20
URL = "http://127.0.0.1:8123/report"


def requirement(**overrides):
    fields = {"scheme": "exact", "network": "eip155:84532", "amount": "4600", "asset": USDC_SEPOLIA,
              "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}
    return {**fields, **overrides}


def v2_response(*accepts, status=402, header_override=None):
    body = {"x402Version": 2, "error": "Payment required", "resource": {"url": URL}, "accepts": list(accepts)}
    header = header_override or base64.b64encode(json.dumps(body).encode()).decode()
    return httpx.Response(status, headers={"PAYMENT-REQUIRED": header}, json={},
                          request=httpx.Request("GET", URL))


def test_a_v2_challenge_is_read_from_its_header_and_priced_with_six_decimals():
    offer = best_offer(read_challenge(v2_response(requirement())), ["eip155:84532"])
    assert (offer.amount_usd, offer.asset.decimals, offer.pay_to) == (Decimal("0.0046"), 6, PAY_TO)


def test_a_v1_challenge_is_read_from_its_body_with_legacy_network_names():
    body = {"x402Version": 1, "error": "X-PAYMENT header is required", "accepts": [{
        "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "10000", "resource": URL,
        "description": "a report", "mimeType": "application/json", "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "asset": USDC_SEPOLIA, "extra": {"name": "USDC", "version": "2"}}]}
    response = httpx.Response(402, json=body, request=httpx.Request("GET", URL))
    offer = best_offer(read_challenge(response), ["eip155:84532"])
    assert (offer.version, offer.network, offer.amount_usd) == (1, "eip155:84532", Decimal("0.01"))


def test_an_eighteen_decimal_asset_is_priced_with_its_own_decimals():
    extra = [{"network": "eip155:84532", "asset": DAI, "decimals": 18, "symbol": "DAI"}]
    one_dai = requirement(asset=DAI, amount=str(10**18), extra={"name": "Dai", "version": "1"})
    offer = best_offer(read_challenge(v2_response(one_dai)), ["eip155:84532"], extra)
    assert offer.amount_usd == Decimal("1")


@pytest.mark.parametrize(("offer", "reason"), [
    (requirement(network="eip155:1"), "network eip155:1 is not allowed"),
    (requirement(asset="0x" + "12" * 20), "is not a known USD stablecoin"),
    (requirement(scheme="upto"), "scheme 'upto' is not one this buyer speaks"),
    (requirement(amount="-5"), "is not a payable atomic amount"),
    (requirement(amount=str(10**30)), "is not a payable atomic amount"),
])
def test_a_challenge_with_no_acceptable_offer_names_why(offer, reason):
    with pytest.raises(NoAcceptableOffer, match=reason):
        best_offer(read_challenge(v2_response(offer)), ["eip155:84532"])


def test_the_cheapest_acceptable_offer_wins_and_refusals_are_kept():
    offers, refused = payable_offers(read_challenge(v2_response(
        requirement(amount="9000"), requirement(amount="4600"), requirement(network="eip155:1"))), ["eip155:84532"])
    assert [o.amount_atomic for o in offers] == [4600, 9000]
    assert len(refused) == 1


@pytest.mark.parametrize("header", ["not base64 at all!", base64.b64encode(b"{not json").decode(),
                                    base64.b64encode(b'{"x402Version": 2, "accepts": "x"}').decode()])
def test_a_malformed_payment_required_header_is_a_clear_error(header):
    with pytest.raises(ChallengeError, match="malformed"):
        read_challenge(v2_response(requirement(), header_override=header))


def test_an_oversized_challenge_is_refused_unread():
    with pytest.raises(ChallengeError, match="refused unread"):
        read_challenge(v2_response(requirement(), header_override="A" * (MAX_CHALLENGE_BYTES + 1)))


def test_a_402_without_requirements_is_a_clear_error():
    with pytest.raises(ChallengeError, match="without x402 payment requirements"):
        read_challenge(httpx.Response(402, text="pay me", request=httpx.Request("GET", URL)))


def _manager(settings: Settings, handler) -> PaymentManager:
    directory = VendorDirectory(settings, {"reports": VendorEntry("reports", ("http://127.0.0.1:8123",),
                                                                  (PAY_TO,))})
    return PaymentManager(settings, directory=directory, http=httpx.Client(transport=httpx.MockTransport(handler)))


def test_quote_refuses_a_pay_to_the_vendor_does_not_list(settings):
    manager = _manager(settings, lambda request: v2_response(requirement(payTo="0x" + "cd" * 20)))
    with pytest.raises(Exception, match="not one of its payTo addresses"):
        manager.quote(URL)


def test_quote_does_not_follow_a_redirect(settings):
    manager = _manager(settings, lambda request: httpx.Response(302, headers={"Location": "http://evil.test/"}))
    with pytest.raises(ChallengeError, match=r"redirected to http://evil\.test/"):
        manager.quote(URL)


def test_quote_of_a_free_resource_has_no_offer(settings):
    quote = _manager(settings, lambda request: httpx.Response(200, text="free")).quote(URL)
    assert quote.offer is None and quote.amount_usd == 0
