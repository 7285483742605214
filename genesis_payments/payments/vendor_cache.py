"""The vendor capability cache (§4): what each vendor sells, at what price, paid how.

`data/a2a-x402/vendor_capabilities.json` holds one object per vendor id (ids may contain `:` and
`/`; they are JSON keys, never file names). An entry is used while it is younger than
`vendor_cache_ttl_seconds` and came from the current mode (`source` "fake" or "live"); otherwise
it is looked up again. A failed lookup is never cached. Every write takes the cache's lock file and
replaces the file atomically, so concurrent refreshes leave a valid file with every entry.

Fake lookups come from `FAKE_CATALOGUE` (realistic vendors on Base and Base Sepolia USDC, with
the USDC EIP-712 domain per network in the extra field `networks`). Live lookups read a
facilitator's discovery list (`GET /discovery/resources`, the x402 "Bazaar" shape) or, for a
vendor id that is an http(s) URL, the vendor's own 402 answer (`PAYMENT-REQUIRED` header).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from eth_utils import keccak, to_checksum_address
from pydantic import ValidationError

from genesis_payments.core.errors import LedgerError, VendorLookupError
from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.money import MICRO, format_usd, from_micro
from genesis_payments.core.records import VendorCapabilities
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.jsonl import describe_validation_error
from genesis_payments.payments.challenge import Offer

log = logging.getLogger(__name__)

USDC = "USDC"
BASE = "eip155:8453"
BASE_SEPOLIA = "eip155:84532"

# USDC per network, as in the x402 SDK's default-asset table (a test checks they agree): the
# EIP-712 domain name differs by chain, so it is stored per (network, asset).
USDC_BY_NETWORK: dict[str, dict[str, str]] = {
    BASE: {"asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "name": "USD Coin", "version": "2"},
    BASE_SEPOLIA: {"asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "name": "USDC", "version": "2"},
}

Lookup = Callable[[str], VendorCapabilities | Mapping[str, Any] | None]


def _fake_pay_to(vendor: str) -> str:
    return to_checksum_address(keccak(b"genesis-payments/fake-vendor/" + vendor.encode("utf-8"))[-20:])


def _vendor(vendor: str, description: str, pricing: Mapping[str, str], capabilities: list[str],
            chains: tuple[str, ...] = (BASE, BASE_SEPOLIA)) -> dict[str, Any]:
    return {
        "vendor": vendor,
        "description": description,
        "pricing": dict(pricing),
        "tokens": [USDC],
        "chains": list(chains),
        "capabilities": capabilities,
        "pay_to": _fake_pay_to(vendor),
        "asset": USDC_BY_NETWORK[chains[0]]["asset"],
        "networks": {chain: dict(USDC_BY_NETWORK[chain]) for chain in chains},
        "scheme": "exact",
        "max_timeout_seconds": 3600,
    }


FAKE_CATALOGUE: dict[str, dict[str, Any]] = {
    entry["vendor"]: entry
    for entry in (
        _vendor("payments:deploy:vercel", "Vercel deployments", {"deploy": "2.50", "preview": "0.40"},
                ["deploy", "preview", "rollback"]),
        _vendor("payments:deploy:netlify", "Netlify deployments", {"deploy": "1.90"}, ["deploy", "preview"]),
        _vendor("media:images:replicate", "Replicate image generation",
                {"sdxl-image": "0.0046", "flux-schnell-image": "0.003", "upscale": "0.0023"},
                ["image-generation", "upscale"]),
        _vendor("media:video:runway", "Runway video generation", {"gen3-5s": "0.50"}, ["video-generation"],
                chains=(BASE,)),
        _vendor("llm:openai", "OpenAI API", {"gpt-4o-1k-tokens": "0.005", "gpt-4o-mini-1k-tokens": "0.00015"},
                ["chat", "embeddings"]),
        _vendor("llm:anthropic", "Anthropic API", {"claude-sonnet-1k-tokens": "0.003"}, ["chat"]),
        _vendor("voice:elevenlabs", "ElevenLabs text to speech", {"tts-1k-chars": "0.30"}, ["tts", "voice-clone"]),
        _vendor("search:serpapi", "SerpApi web search", {"search": "0.015"}, ["web-search"]),
        _vendor("data:x402/weather", "Weather data over x402", {"forecast": "0.001"}, ["weather"],
                chains=(BASE_SEPOLIA,)),
    )
}
FAKE_VENDOR_IDS: tuple[str, ...] = tuple(FAKE_CATALOGUE)


def fake_lookup(vendor: str) -> dict[str, Any] | None:
    """The built-in catalogue's entry for `vendor`, or None for a vendor it does not list."""
    entry = FAKE_CATALOGUE.get(vendor)
    return json.loads(json.dumps(entry)) if entry is not None else None


class VendorCapabilityCache:
    def __init__(self, settings: Settings, *, lookup: Lookup | None = None) -> None:
        self.settings = settings
        self.path = settings.vendor_capabilities_path
        self.mode = "fake" if settings.use_fake else "live"
        self.lookup: Lookup = lookup or (fake_lookup if settings.use_fake else LiveVendorLookup(settings))
        self.last_error: str | None = None

    # --- reading -----------------------------------------------------------------------------

    def entries(self) -> dict[str, VendorCapabilities]:
        """Every readable entry in the file, whatever its age or mode."""
        raw = self._read_raw()
        entries: dict[str, VendorCapabilities] = {}
        for vendor, value in raw.items():
            try:
                entries[vendor] = VendorCapabilities.model_validate(value)
            except (ValidationError, TypeError):
                log.warning("vendor cache: entry %r in %s is invalid; it will be looked up again", vendor, self.path)
        return entries

    def is_fresh(self, entry: VendorCapabilities, now: datetime | None = None) -> bool:
        age = ((now or utc_now()) - entry.fetched_at).total_seconds()
        return entry.source == self.mode and 0 <= age < self.settings.vendor_cache_ttl_seconds

    def get(self, vendor: str) -> VendorCapabilities | None:
        """The vendor's capabilities, looked up again when stale or from the other mode.

        None when the vendor is unknown or the lookup failed (`last_error` says why); a failed
        lookup writes nothing.
        """
        self.last_error = None
        cached = self.entries().get(vendor)
        if cached is not None and self.is_fresh(cached):
            return cached
        try:
            found = self.lookup(vendor)
        except Exception as exc:
            self.last_error = f"lookup of vendor {vendor!r} failed: {type(exc).__name__}: {exc}"
            log.warning("vendor cache: %s", self.last_error)
            return None
        if found is None:
            self.last_error = f"vendor {vendor!r} is unknown to the {self.mode} lookup"
            return None
        return self._store(vendor, found)

    def supports(self, vendor: str, chain: str | None, token: str | None) -> bool:
        """Whether the vendor is known and takes `token` on `chain` (None means any)."""
        caps = self.get(vendor)
        if caps is None:
            return False
        if chain is not None and chain not in caps.chains:
            return False
        return token is None or token.upper() in {t.upper() for t in caps.tokens}

    def network_terms(self, caps: VendorCapabilities, chain: str) -> dict[str, str]:
        """Asset address and EIP-712 domain (name, version) of the vendor's token on `chain`."""
        networks = (caps.model_extra or {}).get("networks") or {}
        terms = networks.get(chain)
        if terms is None and chain in USDC_BY_NETWORK and caps.asset.lower() == USDC_BY_NETWORK[chain]["asset"].lower():
            terms = USDC_BY_NETWORK[chain]
        if not terms:
            raise VendorLookupError(f"vendor {caps.vendor!r} has no asset terms for {chain}")
        return {k: str(v) for k, v in terms.items()}

    # --- writing -----------------------------------------------------------------------------

    def learn(self, vendor: str, url: str, offer: Offer) -> VendorCapabilities | None:
        """Record what a seller's 402 asked: price of the resource, payTo, and per (network, asset)
        the asset's decimals and EIP-712 domain. Merged into the vendor's entry, whose `source` is
        the mode: a fake seller's answer must not price a real vendor, nor the reverse."""
        with self._locked():
            raw = self._read_raw()
            entry = dict(raw.get(vendor) or {}) if isinstance(raw.get(vendor), dict) else {}
            sku = urlsplit(url).path.strip("/") or "default"
            networks = dict(entry.get("networks") or {})
            networks[offer.network] = {"asset": offer.asset.address, "name": offer.asset.name,
                                       "version": offer.asset.version, "decimals": offer.asset.decimals}
            unit = _query_units(url)
            entry.update({
                "vendor": vendor,
                "pricing": {**(entry.get("pricing") or {}), sku: format_usd(_unit_price(offer.amount_usd, unit))},
                "tokens": sorted({*(entry.get("tokens") or []), offer.asset.symbol}),
                "chains": sorted({*(entry.get("chains") or []), offer.network}),
                "capabilities": list(entry.get("capabilities") or []),
                "pay_to": offer.pay_to,
                "asset": offer.asset.address,
                "networks": networks,
                "resource_urls": sorted({*(entry.get("resource_urls") or []), url.split("?", 1)[0]}),
                "max_timeout_seconds": offer.max_timeout_seconds,
                "fetched_at": format_utc(utc_now()),
                "source": self.mode,
            })
            try:
                caps = VendorCapabilities.model_validate(entry)
            except ValidationError as exc:
                log.warning("vendor cache: not learning %r: %s", vendor, describe_validation_error(exc))
                return None
            raw[vendor] = caps.to_json_dict()
            write_json_atomic(self.path, raw)
            return caps

    def record_purchase(self, vendor: str, purchase: Mapping[str, Any], keep: int = 20) -> None:
        """Append a purchase's metadata to the vendor's entry (newest `keep` kept)."""
        with self._locked():
            raw = self._read_raw()
            entry = raw.get(vendor)
            if not isinstance(entry, dict):
                raise VendorLookupError(f"vendor {vendor!r} is not in the cache; look it up before buying")
            purchases = [p for p in entry.get("purchases", []) if isinstance(p, dict)]
            purchases.append(json.loads(json.dumps(dict(purchase), default=str)))
            entry["purchases"] = purchases[-keep:]
            entry["last_purchase_at"] = purchase.get("ts") or format_utc(utc_now())
            raw[vendor] = entry
            write_json_atomic(self.path, raw)

    def _store(self, vendor: str, found: VendorCapabilities | Mapping[str, Any]) -> VendorCapabilities | None:
        data = found.to_json_dict() if isinstance(found, VendorCapabilities) else dict(found)
        data["vendor"] = vendor
        data["fetched_at"] = format_utc(utc_now())
        data["source"] = self.mode
        try:
            caps = VendorCapabilities.model_validate(data)
        except ValidationError as exc:
            problem = describe_validation_error(exc)
            self.last_error = f"lookup of vendor {vendor!r} returned invalid capabilities: {problem}"
            log.warning("vendor cache: %s", self.last_error)
            return None
        with self._locked():
            raw = self._read_raw()
            previous = raw.get(vendor)
            on_disk = caps.to_json_dict()
            if isinstance(previous, dict) and "purchases" in previous and "purchases" not in on_disk:
                on_disk["purchases"] = previous["purchases"]
            raw[vendor] = on_disk
            write_json_atomic(self.path, raw)
        return caps

    def _read_raw(self) -> dict[str, Any]:
        try:
            raw = read_json_file(self.path, default={})
        except LedgerError as exc:
            log.warning("vendor cache: %s; starting from an empty cache", exc)
            return {}
        if not isinstance(raw, dict):
            log.warning("vendor cache: %s is not a JSON object; starting from an empty cache", self.path)
            return {}
        return _plain(raw)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _unit_price(amount: Decimal, units: int) -> Decimal:
    """The price of one unit when `units` divide the amount exactly; the whole amount otherwise."""
    unit = amount / units
    return unit if unit == unit.quantize(MICRO) else amount


def _query_units(url: str) -> int:
    """`units=N` of a resource URL (the fake sellers' way to buy N of a SKU); 1 when absent."""
    values = parse_qs(urlsplit(url).query).get("units") or ["1"]
    return int(values[0]) if values[0].isdigit() and int(values[0]) > 0 else 1


def _plain(value: Any) -> Any:
    """JSON read with Decimal numbers → back to JSON-ready values (money stays a string)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


class LiveVendorLookup:
    """Reads a vendor's x402 payment requirements: from a 402 answer, or a facilitator's discovery list."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport

    def __call__(self, vendor: str) -> dict[str, Any] | None:
        timeout = httpx.Timeout(self.settings.http_timeout_seconds, connect=min(self.settings.http_timeout_seconds, 5))
        with httpx.Client(timeout=timeout, transport=self.transport) as http:
            if vendor.startswith(("http://", "https://")):
                return self._from_402(http, vendor)
            return self._from_discovery(http, vendor)

    def _from_402(self, http: httpx.Client, url: str) -> dict[str, Any] | None:
        response = http.get(url)
        if response.status_code != 402:
            raise VendorLookupError(f"{url} answered HTTP {response.status_code}, not 402 Payment Required")
        header = response.headers.get("PAYMENT-REQUIRED")
        body = json.loads(base64.b64decode(header)) if header else response.json()
        return capabilities_from_accepts(url, body.get("accepts") or [], body.get("resource") or {})

    def _from_discovery(self, http: httpx.Client, vendor: str) -> dict[str, Any] | None:
        if not self.settings.facilitator_url:
            raise VendorLookupError("live vendor lookup needs GENESIS_FACILITATOR_URL (discovery list)")
        base = self.settings.facilitator_url.rstrip("/")
        offset, limit = 0, 100
        while True:
            params = {"type": "http", "limit": limit, "offset": offset}
            response = http.get(f"{base}/discovery/resources", params=params)
            if response.status_code != 200:
                raise VendorLookupError(f"discovery list answered HTTP {response.status_code}")
            page = response.json()
            for item in page.get("items") or []:
                metadata = item.get("metadata") or {}
                if vendor in (metadata.get("vendor"), item.get("resource")):
                    return capabilities_from_accepts(vendor, item.get("accepts") or [], metadata)
            total = int((page.get("pagination") or {}).get("total") or 0)
            offset += limit
            if offset >= total or not page.get("items"):
                return None


def capabilities_from_accepts(
    vendor: str, accepts: list[dict[str, Any]], metadata: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Vendor capabilities from x402 v2 `PaymentRequirements` (exact scheme, amounts in micro-USDC)."""
    exact = [a for a in accepts if a.get("scheme") == "exact" and str(a.get("network", "")).startswith("eip155:")]
    if not exact:
        return None
    first = exact[0]
    sku = str(metadata.get("sku") or "default")
    networks = {
        a["network"]: {"asset": a["asset"], **{k: (a.get("extra") or {})[k] for k in ("name", "version")
                                             if k in (a.get("extra") or {})}}
        for a in exact
    }
    return {
        "vendor": vendor,
        "pricing": {sku: format_usd(from_micro(int(first["amount"])))},
        "tokens": [USDC],
        "chains": list(networks),
        "capabilities": list(metadata.get("capabilities") or []),
        "pay_to": first["payTo"],
        "asset": first["asset"],
        "networks": networks,
        "scheme": "exact",
        "max_timeout_seconds": int(first.get("maxTimeoutSeconds") or 3600),
    }
