"""MediaPaymentHelper: the vendor cache gates every purchase and records it afterwards."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from genesis_payments.payments import VendorNotSupported
from genesis_payments.payments.media import MediaPaymentHelper
from genesis_payments.payments.store import AuthorizationStore
from tests.support.payments import approved_intent, in_process

# Payments settle on the real local chain (one anvil per session, reverted after each test).
pytestmark = pytest.mark.usefixtures("local_chain")

VENDOR = "media:images:replicate"


@pytest.fixture
def helper(settings):
    manager, fake = in_process(settings)
    return MediaPaymentHelper(settings, manager=manager, vendors=manager.vendors), fake


def test_purchase_at_the_cached_price_pays_and_records_metadata(settings, helper):
    media, fake = helper
    intent = approved_intent(settings, vendor=VENDOR, cost_usd="0.0046", component="images")
    payment = media.purchase(intent, "sdxl-image", "media-key-1")
    assert payment.status == "captured" and payment.amount_usd == Decimal("0.0046")
    entry = json.loads(settings.vendor_capabilities_path.read_text())[VENDOR]
    (purchase,) = entry["purchases"]
    assert purchase["payment_id"] == payment.payment_id and purchase["sku"] == "sdxl-image"
    assert purchase["amount_usd"] == "0.004600" and purchase["tx_hash"] == payment.tx_hash
    assert fake.calls["settle"] == 1


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
def test_purchases_the_cache_does_not_confirm_are_refused_before_spending(settings, helper, overrides, sku, match):
    media, fake = helper
    fields = {"vendor": VENDOR, "cost_usd": "0.0046", **overrides}
    with pytest.raises(VendorNotSupported, match=match):
        media.purchase(approved_intent(settings, **fields), sku, "media-key-2")
    assert fake.calls["verify"] == 0
    assert AuthorizationStore(settings).all() == []
    assert not settings.transactions_path.exists()
