"""Fake mode's outside world on loopback: a facilitator and one real x402 seller per fake vendor.

`local_world(settings)` finds the sellers a running `serve` registered (they answer on their
ports) or starts a facilitator and the sellers in this process for as long as the block runs, and
writes their registry where the buyer's vendor directory reads it. The world also funds agents and
injects faults, through the same HTTP fault endpoints the tests use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import httpx

from genesis_payments.core.money import parse_usd
from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.sellers import (
    SellerFleet,
    SellerSpec,
    fake_seller_specs,
    registry_facilitator,
    seller_registry,
)


@dataclass
class LocalWorld:
    settings: Settings
    facilitator_url: str
    urls: dict[str, str]
    fleet: SellerFleet | None = None  # only when this process started the sellers

    def url(self, vendor: str, path: str = "") -> str:
        return self.urls[vendor].rstrip("/") + path

    def fund(self, agent: str, amount: Decimal | str) -> None:
        from genesis_payments.payments.fakes.fake_keys import fund_fake_wallets

        fund_fake_wallets(self.settings, {agent: parse_usd(str(amount))})

    def balance(self, agent: str) -> Decimal:
        from genesis_payments.payments.balances import wallet_balances

        return wallet_balances(self.settings).get(agent, Decimal(0))

    def seller_fault(self, vendor: str, kind: str, times: int = 1) -> None:
        if self.fleet is not None:
            self.fleet.faults[vendor].push(kind, times)
            return
        httpx.post(self.url(vendor, "/_fake/fault"), json={"kind": kind, "times": times}, timeout=5).raise_for_status()

    def facilitator_fault(self, call: str, kind: str, times: int = 1) -> None:
        httpx.post(f"{self.facilitator_url}/_fake/fail", json={"call": call, "kind": kind, "times": times},
                   timeout=5).raise_for_status()


def _answering(urls: dict[str, str]) -> bool:
    try:
        return bool(urls) and all(httpx.get(u.rstrip("/") + "/_fake/health", timeout=1).status_code < 500
                                  for u in urls.values())
    except httpx.HTTPError:
        return False


def _start_facilitator(settings: Settings):
    from genesis_payments.payments.fakes.fake_facilitator import FakeFacilitator, FakeFacilitatorServer

    return FakeFacilitatorServer(FakeFacilitator(settings)).start()


@contextmanager
def local_world(settings: Settings, specs: list[SellerSpec] | None = None, *,
                reuse: bool = True) -> Iterator[LocalWorld]:
    """The running fake world of this root, or one started here until the block ends."""
    registered = seller_registry(settings.fake_sellers_path)
    if reuse and specs is None and _answering(registered):
        yield LocalWorld(settings, registry_facilitator(settings.fake_sellers_path), registered)
        return
    from genesis_payments.payments.fakes.sellers import start_sellers

    facilitator = _start_facilitator(settings)
    try:
        fleet = start_sellers(facilitator.url, specs if specs is not None else fake_seller_specs(),
                              registry=settings.fake_sellers_path)
        for queue in fleet.faults.values():
            queue.stall_seconds = settings.http_timeout_seconds + 1
        try:
            yield LocalWorld(settings, facilitator.url, fleet.urls, fleet)
        finally:
            fleet.stop()
            settings.fake_sellers_path.unlink(missing_ok=True)
    finally:
        facilitator.stop()
