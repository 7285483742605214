"""`MediaPaymentHelper`: buy from a media vendor's seller only on terms the vendor cache confirms.

Before spending it refuses a vendor the cache does not know, a chain or token the vendor does not
take, an unknown SKU, an intent above the cached price, and a live price above the cached one
(that needs a new approval); after the capture it stores the purchase's metadata in the vendor's
cache entry.
"""

from __future__ import annotations

from genesis_payments.core.money import format_usd
from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.payments.errors import VendorNotSupported
from genesis_payments.payments.manager import PaymentManager, Purchase
from genesis_payments.payments.vendor_cache import VendorCapabilityCache


class MediaPaymentHelper:
    def __init__(
        self,
        settings: Settings,
        *,
        manager: PaymentManager | None = None,
        vendors: VendorCapabilityCache | None = None,
    ) -> None:
        self.settings = settings
        self.vendors = vendors if vendors is not None else VendorCapabilityCache(settings)
        self.manager = manager if manager is not None else PaymentManager(settings, vendors=self.vendors)

    def check(self, intent: PaymentIntent, sku: str) -> None:
        """Raise VendorNotSupported unless the cache confirms vendor, chain, token, SKU and price."""
        caps = self.vendors.get(intent.vendor)
        if caps is None:
            raise VendorNotSupported(
                f"vendor {intent.vendor!r} is not in the vendor cache ({self.vendors.last_error}); nothing spent"
            )
        if not self.vendors.supports(intent.vendor, intent.chain, intent.token):
            raise VendorNotSupported(
                f"vendor {intent.vendor!r} does not take {intent.token or 'its token'} on "
                f"{intent.chain or 'its chain'} (it takes {caps.tokens} on {caps.chains}); nothing spent"
            )
        if sku not in caps.pricing:
            raise VendorNotSupported(f"vendor {intent.vendor!r} has no SKU {sku!r} (it sells {sorted(caps.pricing)})")
        price = caps.pricing[sku]
        if intent.cost_usd > price:
            raise VendorNotSupported(
                f"{intent.vendor!r} {sku!r} costs {format_usd(price)} USDC in the cache; "
                f"{format_usd(intent.cost_usd)} is above it, nothing spent"
            )

    def purchase(self, intent: PaymentIntent, sku: str, idempotency_key: str, *, units: int = 1) -> Purchase:
        """Check the cache, ask the seller's live price, pay, then record the purchase in the cache.

        A live price above the cached one is refused: the intent was approved on the cached terms,
        so paying more needs a new approval.
        """
        self.check(intent, sku)
        cached = self.vendors.get(intent.vendor)
        assert cached is not None
        base = self.manager.directory.url_of(intent.vendor)
        if base is None:
            raise VendorNotSupported(f"vendor {intent.vendor!r} has no seller URL; nothing spent")
        quote = self.manager.quote(f"{base.rstrip('/')}/{sku}?units={units}", vendor=intent.vendor)
        if quote.offer is not None and quote.offer.amount_usd > cached.pricing[sku] * units:
            raise VendorNotSupported(
                f"{intent.vendor!r} now asks {format_usd(quote.offer.amount_usd)} USDC for {units} × {sku!r}, above "
                f"the cached {format_usd(cached.pricing[sku] * units)}; a new approval is needed, nothing spent")
        bought = self.manager.pay(intent, idempotency_key, quote)
        payment = bought.payment
        self.vendors.record_purchase(
            intent.vendor,
            {
                "ts": format_utc(utc_now()),
                "sku": sku,
                "units": units,
                "payment_id": payment.payment_id,
                "amount_usd": format_usd(payment.amount_usd),
                "chain": payment.chain,
                "token": payment.token,
                "tx_hash": payment.tx_hash,
                "agent": intent.agent,
                "status": payment.status,
                "resource_url": payment.resource_url,
            },
        )
        return bought
