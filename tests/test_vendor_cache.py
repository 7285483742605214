"""VendorCapabilityCache: TTL, mode toggle, failed lookups, concurrent refreshes, odd vendor ids."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import httpx

import genesis_payments.payments.vendor_cache as vendor_cache
from genesis_payments.core.records import VendorCapabilities
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.payments.vendor_cache import (
    FAKE_VENDOR_IDS,
    LiveVendorLookup,
    VendorCapabilityCache,
    fake_lookup,
)


class CountingLookup:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, vendor: str):
        self.calls.append(vendor)
        if self.fail:
            raise httpx.ConnectError("vendor unreachable")
        return fake_lookup(vendor)


def test_catalogue_has_realistic_vendors_with_usdc_domains_per_network():
    assert {"payments:deploy:vercel", "media:images:replicate", "llm:openai", "voice:elevenlabs",
            "search:serpapi"} <= set(FAKE_VENDOR_IDS)
    entry = fake_lookup("payments:deploy:vercel")
    assert entry["networks"]["eip155:8453"]["name"] == "USD Coin"
    assert entry["networks"]["eip155:84532"]["name"] == "USDC"
    assert entry["tokens"] == ["USDC"] and entry["pay_to"].startswith("0x")


def test_get_caches_and_serves_fresh_entries_without_a_lookup(settings):
    lookup = CountingLookup()
    cache = VendorCapabilityCache(settings, lookup=lookup)
    first = cache.get("llm:openai")
    second = cache.get("llm:openai")
    assert first == second and first.source == "fake"
    assert lookup.calls == ["llm:openai"]
    on_disk = json.loads(settings.vendor_capabilities_path.read_text())
    assert on_disk["llm:openai"]["pricing"]["gpt-4o-1k-tokens"] == "0.005000"


def test_an_entry_older_than_the_ttl_is_looked_up_again(settings, monkeypatch):
    lookup = CountingLookup()
    cache = VendorCapabilityCache(settings, lookup=lookup)
    fetched = cache.get("search:serpapi").fetched_at
    later = fetched + timedelta(seconds=settings.vendor_cache_ttl_seconds - 1)
    monkeypatch.setattr(vendor_cache, "utc_now", lambda: later)
    cache.get("search:serpapi")
    assert len(lookup.calls) == 1
    expired = fetched + timedelta(seconds=settings.vendor_cache_ttl_seconds)
    monkeypatch.setattr(vendor_cache, "utc_now", lambda: expired)
    refreshed = cache.get("search:serpapi")
    assert len(lookup.calls) == 2 and refreshed.fetched_at == expired


def test_switching_mode_invalidates_entries_from_the_other_mode(settings, monkeypatch):
    VendorCapabilityCache(settings).get("voice:elevenlabs")
    monkeypatch.setenv("PAYMENTS_USE_FAKE", "false")
    live = Settings()
    lookup = CountingLookup()
    caps = VendorCapabilityCache(live, lookup=lookup).get("voice:elevenlabs")
    assert lookup.calls == ["voice:elevenlabs"] and caps.source == "live"
    monkeypatch.setenv("PAYMENTS_USE_FAKE", "true")
    again = CountingLookup()
    assert VendorCapabilityCache(Settings(), lookup=again).get("voice:elevenlabs").source == "fake"
    assert again.calls == ["voice:elevenlabs"]


def test_a_failed_lookup_is_not_cached(settings):
    failing = CountingLookup(fail=True)
    cache = VendorCapabilityCache(settings, lookup=failing)
    assert cache.get("llm:anthropic") is None
    assert "vendor unreachable" in cache.last_error
    assert not settings.vendor_capabilities_path.exists()
    assert cache.supports("llm:anthropic", None, None) is False
    working = CountingLookup()
    assert VendorCapabilityCache(settings, lookup=working).get("llm:anthropic") is not None
    assert working.calls == ["llm:anthropic"]


def test_a_failed_refresh_keeps_the_old_entry_on_disk_but_does_not_serve_it(settings, monkeypatch):
    VendorCapabilityCache(settings).get("llm:anthropic")
    before = settings.vendor_capabilities_path.read_bytes()
    monkeypatch.setattr(vendor_cache, "utc_now", lambda: utc_now() + timedelta(days=2))
    assert VendorCapabilityCache(settings, lookup=CountingLookup(fail=True)).get("llm:anthropic") is None
    assert settings.vendor_capabilities_path.read_bytes() == before


def test_unknown_vendor_is_none_and_not_cached(settings):
    cache = VendorCapabilityCache(settings)
    assert cache.get("nobody:sells/this") is None
    assert not settings.vendor_capabilities_path.exists()


def test_vendor_ids_with_colons_and_slashes_work(settings):
    weird = "data:x402/weather"
    cache = VendorCapabilityCache(settings)
    assert cache.supports(weird, "eip155:84532", "USDC")
    assert not cache.supports(weird, "eip155:8453", "USDC")
    assert not cache.supports(weird, "eip155:84532", "DAI")
    on_disk = json.loads(settings.vendor_capabilities_path.read_text())
    assert list(on_disk) == [weird] and on_disk[weird]["vendor"] == weird
    assert [p.name for p in settings.vendor_capabilities_path.parent.iterdir() if "weather" in p.name] == []


def test_concurrent_refreshes_leave_a_valid_file_with_every_entry(settings):
    vendors = list(FAKE_VENDOR_IDS)
    errors: list[BaseException] = []
    # Half the writers run in fake mode, half in live mode, so every get() finds the other mode's
    # entry and refreshes it: the worst case for lost updates.
    modes = [Settings(use_fake=i % 2 == 0) for i in range(4)]

    def refresh(index: int) -> None:
        try:
            cache = VendorCapabilityCache(modes[index], lookup=fake_lookup)
            for round_ in range(2):
                for vendor in vendors[index:] + vendors[:index]:
                    assert cache.get(vendor) is not None
                    cache.record_purchase(vendor, {"sku": "x", "writer": index, "round": round_})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(len(modes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    on_disk = json.loads(settings.vendor_capabilities_path.read_text())
    assert set(on_disk) == set(vendors)
    assert all(VendorCapabilities.model_validate(entry) for entry in on_disk.values())
    assert all(len(entry["purchases"]) == 8 for entry in on_disk.values())  # no purchase lost
    assert not [p for p in settings.vendor_capabilities_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_corrupt_cache_file_is_rebuilt(settings):
    settings.vendor_capabilities_path.parent.mkdir(parents=True)
    settings.vendor_capabilities_path.write_text("{not json")
    assert VendorCapabilityCache(settings).get("llm:openai") is not None
    assert "llm:openai" in json.loads(settings.vendor_capabilities_path.read_text())


def test_live_lookup_reads_a_facilitator_discovery_list(settings, monkeypatch):
    monkeypatch.setenv("GENESIS_FACILITATOR_URL", "https://facilitator.example")
    live = Settings(use_fake=False)
    item = {
        "resource": "https://api.example/forecast", "type": "http", "x402Version": 2,
        "accepts": [{"scheme": "exact", "network": "eip155:8453", "amount": "1500",
                     "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                     "payTo": "0x1111111111111111111111111111111111111111", "maxTimeoutSeconds": 60,
                     "extra": {"name": "USD Coin", "version": "2"}}],
        "lastUpdated": "2026-11-25T00:00:00Z", "metadata": {"vendor": "data:weather", "sku": "forecast"},
    }

    def discovery(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/discovery/resources"
        return httpx.Response(200, json={"x402Version": 2, "items": [item],
                                         "pagination": {"limit": 100, "offset": 0, "total": 1}})

    lookup = LiveVendorLookup(live, transport=httpx.MockTransport(discovery))
    caps = VendorCapabilityCache(live, lookup=lookup).get("data:weather")
    assert caps.source == "live" and {k: str(v) for k, v in caps.pricing.items()} == {"forecast": "0.001500"}
    assert caps.chains == ["eip155:8453"] and caps.model_extra["networks"]["eip155:8453"]["name"] == "USD Coin"
    assert VendorCapabilityCache(live, lookup=lookup).get("data:unknown") is None
