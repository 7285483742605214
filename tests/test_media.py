"""MediaPaymentHelper: the vendor cache gates every purchase from the seller and records it afterwards."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from genesis_payments.payments import VendorNotSupported
from genesis_payments.payments.media import MediaPaymentHelper
from genesis_payments.payments.store import AuthorizationStore
from tests.support.payments import approved_intent

VENDOR = "media:images:replicate"


def _intent(settings, **overrides):
    fields = {"agent": "media-agent", "vendor": VENDOR, "cost_usd": "0.0046", "component": "images",
              "chain": "eip155:84532", **overrides}
    return approved_intent(settings, **fields)


def test_purchase_at_the_cached_price_pays_and_records_metadata(world):
    settings = world.settings
    bought = MediaPaymentHelper(settings).purchase(_intent(settings), "sdxl-image", "media-key-1")
    payment = bought.payment
    assert payment.status == "captured" and payment.amount_usd == Decimal("0.0046")
    assert json.loads(bought.body)["sku"] == "sdxl-image"
    entry = json.loads(settings.vendor_capabilities_path.read_text())[VENDOR]
    (purchase,) = entry["purchases"]
    assert purchase["payment_id"] == payment.payment_id and purchase["sku"] == "sdxl-image"
    assert purchase["amount_usd"] == "0.004600" and purchase["tx_hash"] == payment.tx_hash
    assert entry["networks"]["eip155:84532"]["decimals"] == 6  # learned from the live 402


@pytest.mark.parametrize(
    ("overrides", "sku", "match"),
    [
        ({"cost_usd": "0.0047"}, "sdxl-image", "above it"),
        ({}, "no-such-sku", "no SKU"),
        ({"chain": "eip155:1"}, "sdxl-image", "does not take"),
        ({"token": "DAI"}, "sdxl-image", "does not take"),
        ({"vendor": "media:images:unknown"}, "sdxl-image", "not in the vendor cache"),
    ],
    ids=["price-above-cache", "unknown-sku", "chain", "token", "vendor"],
)
def test_purchases_the_cache_does_not_confirm_are_refused_before_spending(world, overrides, sku, match):
    settings = world.settings
    with pytest.raises(VendorNotSupported, match=match):
        MediaPaymentHelper(settings).purchase(_intent(settings, **overrides), sku, "media-key-2")
    assert AuthorizationStore(settings).all() == []
    assert not settings.transactions_path.exists()


def test_a_live_price_above_the_cached_one_needs_a_new_approval(world):
    settings = world.settings
    world.seller_fault(VENDOR, "price_x2")
    with pytest.raises(VendorNotSupported, match=r"now asks 0\.009200 USDC .* a new approval is needed"):
        MediaPaymentHelper(settings).purchase(_intent(settings), "sdxl-image", "media-key-3")
    assert AuthorizationStore(settings).all() == []
    assert world.balance("media-agent") == Decimal("10")
