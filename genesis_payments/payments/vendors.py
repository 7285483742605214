"""Vendors are sellers: which seller URLs belong to which vendor id, and whom it may be paid.

A vendor id maps to one or more seller URLs, matched by exact origin (scheme, host and port; never
a substring of a URL), and optionally to the `payTo` addresses its offers may name. Live mode reads
`config/vendors.json` (`{"<vendor>": {"urls": [...], "pay_to": [...]}}`); fake mode also reads the
registry the running fake sellers wrote (`data/a2a-x402/fake/sellers.json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.core.files import read_json_file
from genesis_payments.core.settings import Settings
from genesis_payments.payments.errors import VendorNotSupported


def origin_of(url: str) -> str:
    """`scheme://host:port` of an http(s) URL, the port always written out."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VendorNotSupported(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


@dataclass(frozen=True)
class VendorEntry:
    vendor: str
    urls: tuple[str, ...]
    pay_to: tuple[str, ...] = ()


class VendorDirectory:
    def __init__(self, settings: Settings, entries: Mapping[str, VendorEntry] | None = None) -> None:
        self.settings = settings
        self._entries = dict(entries) if entries is not None else None

    @property
    def entries(self) -> dict[str, VendorEntry]:
        if self._entries is None:
            self._entries = {**self._from_config(), **self._from_fake_sellers()}
        return self._entries

    def _from_config(self) -> dict[str, VendorEntry]:
        path = self.settings.effective_vendor_directory_path
        try:
            raw = read_json_file(path, default={})
        except LedgerError as exc:
            raise ConfigError(f"vendor directory {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"vendor directory {path} must be a JSON object of vendor → {{urls, pay_to}}")
        entries = {}
        for vendor, value in raw.items():
            if not isinstance(value, dict) or not isinstance(value.get("urls"), list):
                raise ConfigError(f"vendor directory {path}: {vendor!r} needs a list of urls")
            entries[vendor] = VendorEntry(vendor, tuple(str(u) for u in value["urls"]),
                                          tuple(str(a) for a in value.get("pay_to") or ()))
        return entries

    def _from_fake_sellers(self) -> dict[str, VendorEntry]:
        if not self.settings.use_fake:
            return {}
        from genesis_payments.payments.fakes.sellers import seller_registry

        return {vendor: VendorEntry(vendor, (url,)) for vendor, url in seller_registry(
            self.settings.fake_sellers_path).items()}

    def vendor_for(self, url: str) -> str:
        """The vendor whose seller URLs share `url`'s exact origin; VendorNotSupported otherwise."""
        origin = origin_of(url)
        for entry in self.entries.values():
            if any(origin_of(u) == origin for u in entry.urls):
                return entry.vendor
        raise VendorNotSupported(f"{origin} is no known vendor's seller (add it to "
                                 f"{self.settings.effective_vendor_directory_path})")

    def url_of(self, vendor: str) -> str | None:
        entry = self.entries.get(vendor)
        return entry.urls[0] if entry and entry.urls else None

    def check_pay_to(self, vendor: str, pay_to: str) -> None:
        """Refuse a payTo the vendor's entry does not list (any payTo when it lists none)."""
        entry = self.entries.get(vendor)
        if entry and entry.pay_to and pay_to.lower() not in {a.lower() for a in entry.pay_to}:
            raise VendorNotSupported(f"vendor {vendor!r} asks to be paid at {pay_to}, which is not one of its "
                                     f"payTo addresses {list(entry.pay_to)}")
