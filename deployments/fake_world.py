"""Fake mode's world for `serve`: the local chain, then the facilitator on it, then the sellers on that.

Started in that order before the jobs (a seller asks its facilitator's `/supported` when it starts;
the facilitator needs the chain), stopped in the reverse order when `serve` stops. The world file
(`data/a2a-x402/fake/world.json`) names the chain and the facilitator and the seller registry
(`data/a2a-x402/fake/sellers.json`) the sellers, so every job run, the demo and `buy` in another
process use these instead of starting their own. The chain's state stays on disk (anvil `--state`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.facilitator import FacilitatorServer, LocalFacilitator
from genesis_payments.payments.fakes.local_chain import LocalChain, ensure_local_chain, stop_local_chain, update_world


@dataclass
class FakeWorld:
    settings: Settings
    chain: LocalChain
    facilitator: FacilitatorServer
    fleet: Any | None  # the sellers' SellerFleet (None when no sellers module is there)

    @property
    def seller_urls(self) -> dict[str, str]:
        return dict(self.fleet.urls) if self.fleet is not None else {}

    def stop(self) -> None:
        """Sellers, facilitator, chain: each stopped even if the one before failed to."""
        try:
            if self.fleet is not None:
                self.fleet.stop()
                self.settings.fake_sellers_path.unlink(missing_ok=True)
        finally:
            try:
                self.facilitator.stop()
                update_world(self.settings, "facilitator", None)
            finally:
                stop_local_chain(self.settings, self.chain)


def start_fake_world(settings: Settings, log: Callable[[str], None] = print) -> FakeWorld:
    """Chain → facilitator → sellers, on loopback; each step says what it started."""
    chain = ensure_local_chain(settings, stop_at_exit=False)
    facilitator = FacilitatorServer(LocalFacilitator(chain.rpc_url)).start()
    update_world(settings, "facilitator", {"url": facilitator.url, "pid": os.getpid()})
    log(f"fake facilitator (the x402 SDK's, on the local chain): {facilitator.url}")
    try:
        fleet = _start_sellers(settings, facilitator.url)
    except BaseException:
        facilitator.stop()
        stop_local_chain(settings, chain)
        raise
    world = FakeWorld(settings, chain, facilitator, fleet)
    if fleet is None:
        log("no fake sellers module: serving without sellers")
    else:
        log("fake sellers: " + ", ".join(f"{vendor} {url}" for vendor, url in sorted(world.seller_urls.items())))
    return world


def _start_sellers(settings: Settings, facilitator_url: str) -> Any | None:
    try:
        from genesis_payments.payments.fakes.sellers import start_sellers
    except ImportError:
        return None
    return start_sellers(facilitator_url, registry=settings.fake_sellers_path)
