"""Who signs and under which identifier; the vendor catalogue's USDC terms match the SDK's."""

from __future__ import annotations

from x402.mechanisms.evm.default_assets import get_default_asset

from genesis_payments.payments.signing import payment_identifier_for
from genesis_payments.payments.vendor_cache import USDC_BY_NETWORK


def test_payment_identifier_for_keeps_valid_ids_and_hashes_others():
    assert payment_identifier_for("pay_0123456789abcdef") == "pay_0123456789abcdef"
    mapped = payment_identifier_for("deploy:site/1")
    assert mapped.startswith("idem_") and mapped == payment_identifier_for("deploy:site/1")


def test_usdc_domains_match_the_sdk_default_assets():
    for network, terms in USDC_BY_NETWORK.items():
        sdk = get_default_asset(network, "USDC")
        assert {k: sdk[k] for k in ("asset", "name", "version")} == terms
