"""A paid GET through the project's buyer against the x402 SDK's own buyer, on one loopback seller.

    python benchmarks/buyer.py [--purchases 200] [--rounds 4]

Both buyers pay the same SDK seller (FastAPI middleware) whose facilitator settles on fake mode's
chain. The project's purchase includes everything a real one does: the approval decision
(`GenesisMetaAgent`, hash-chained log, fsync), the quote, the signature, the write-ahead
`authorized` and `settlement_pending` lines, the paid request, the `captured` line and the debit,
every append fsynced. The SDK's purchase is `x402HttpxClient.get` (402, sign, paid retry). Rounds
alternate the two so machine load falls on both alike; the figure is the median per purchase.
Target: the project's time per purchase at most 1.5× the SDK's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from x402 import x402Client
from x402.http.clients.httpx import x402HttpxClient
from x402.mechanisms.evm.exact.register import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.fake_keys import fake_account
from genesis_payments.payments.fakes.local_world import local_world
from genesis_payments.payments.fakes.sellers import fake_seller_specs
from genesis_payments.payments.manager import PaymentManager
from genesis_payments.payments.purchase import Order, buy

VENDOR = "media:images:replicate"
SDK_AGENT, OUR_AGENT = "sdk-buyer", "genesis-buyer"


async def sdk_round(url: str, count: int) -> list[float]:
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(fake_account(SDK_AGENT)))
    times = []
    async with x402HttpxClient(client, timeout=30) as http:
        for _ in range(count):
            start = time.perf_counter()
            response = await http.get(url)
            times.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"the SDK's buyer got HTTP {response.status_code}")
    return times


def our_round(settings: Settings, manager: PaymentManager, agent: GenesisMetaAgent, url: str,
              count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        result = buy(settings, Order(url=url, agent=OUR_AGENT, intent_id=f"bench-{uuid.uuid4().hex}"),
                     manager=manager, agent=agent)
        times.append(time.perf_counter() - start)
        if result.purchase is None or result.purchase.payment.status != "captured":
            raise SystemExit("the project's buyer did not capture")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=200, help="purchases per buyer (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        settings = Settings(root=Path(root), use_fake=True, fsync=True)
        specs = [s for s in fake_seller_specs() if s.vendor == VENDOR]
        with local_world(settings, specs, reuse=False) as world:
            for agent in (SDK_AGENT, OUR_AGENT):
                world.fund(agent, "1000")
            url = world.url(VENDOR, "/sdxl-image")
            manager, agent = PaymentManager(settings), GenesisMetaAgent(settings)
            per_round = max(1, args.purchases // args.rounds)
            sdk: list[float] = []
            ours: list[float] = []
            asyncio.run(sdk_round(url, 2))  # warm both paths (imports, first connections)
            our_round(settings, manager, agent, url, 2)
            for _ in range(args.rounds):
                sdk += asyncio.run(sdk_round(url, per_round))
                ours += our_round(settings, manager, agent, url, per_round)
    sdk_ms, our_ms = statistics.median(sdk) * 1000, statistics.median(ours) * 1000
    print(f"purchases: {len(sdk)} by each buyer, {args.rounds} alternating rounds, fsync on")
    print(f"SDK x402HttpxClient     median {sdk_ms:7.2f} ms  p95 {_p95(sdk) * 1000:7.2f} ms")
    print(f"project buyer (buy())   median {our_ms:7.2f} ms  p95 {_p95(ours) * 1000:7.2f} ms")
    print(f"ratio {our_ms / sdk_ms:.2f}x the SDK's time per purchase (target <= 1.5x)")
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


if __name__ == "__main__":
    raise SystemExit(main())
