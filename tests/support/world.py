"""Fake mode's outside world for buyer tests: a facilitator and the SDK's own sellers on loopback.

`World` starts a facilitator and one real x402 seller per vendor asked for, writes the sellers'
registry where the buyer's vendor directory reads it, funds agents, reads balances, and lets a
test inject seller and facilitator faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from genesis_payments.core.money import parse_usd
from genesis_payments.core.settings import Settings
from genesis_payments.payments.balances import wallet_balances
from genesis_payments.payments.fakes.fake_facilitator import FakeFacilitator, FakeFacilitatorServer
from genesis_payments.payments.fakes.fake_keys import fake_address, fund_fake_wallets
from genesis_payments.payments.fakes.sellers import SellerFleet, SellerSpec, fake_seller_specs, start_sellers


@dataclass
class World:
    settings: Settings
    facilitator: FakeFacilitatorServer
    fleet: SellerFleet

    def url(self, vendor: str, path: str) -> str:
        return self.fleet.urls[vendor] + path

    def fund(self, agent: str, amount: Decimal | str) -> None:
        fund_fake_wallets(self.settings, {agent: parse_usd(str(amount))})

    def balance(self, agent: str) -> Decimal:
        return wallet_balances(self.settings).get(agent, Decimal(0))

    def seller_fault(self, vendor: str, kind: str, times: int = 1) -> None:
        self.fleet.faults[vendor].push(kind, times)

    def facilitator_fault(self, call: str, kind: str, times: int = 1) -> None:
        self.facilitator.fake.fail_next(call, kind, times)

    def address(self, agent: str) -> str:
        return fake_address(agent)


@contextmanager
def running_world(settings: Settings, vendors: tuple[str, ...] | None = None,
                  extra: list[SellerSpec] | None = None) -> Iterator[World]:
    specs = [s for s in fake_seller_specs() if vendors is None or s.vendor in vendors] + list(extra or [])
    facilitator = FakeFacilitatorServer(FakeFacilitator(settings)).start()
    try:
        fleet = start_sellers(facilitator.url, specs, registry=settings.fake_sellers_path)
        for queue in fleet.faults.values():
            queue.stall_seconds = settings.http_timeout_seconds + 1
        try:
            yield World(settings, facilitator, fleet)
        finally:
            fleet.stop()
    finally:
        facilitator.stop()
