"""Authorize → capture round trip against the loopback fake facilitator.

Baselines measured in the same run: the same round trip over the in-process httpx transport (no
sockets), and a bare `GET /health` on the loopback server (the HTTP floor). Prints medians, p95 and
ratios. Run: `python benchmarks/staged_payment_roundtrip.py [N]` (default 30 round trips).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.payments import FacilitatorClient, PaymentManager, fund_fake_wallets
from genesis_payments.payments.fakes.facilitator import (
    FacilitatorServer,
    LocalFacilitator,
    facilitator_transport,
    local_facilitator,
)


def intent(settings: Settings, n: int) -> PaymentIntent:
    fields = {"intent_id": f"bench-{n}", "agent": "bench-agent", "vendor": "payments:deploy:vercel",
              "component": "deploy", "strategy": "staged", "cost_usd": "2.50", "business_id": "bench"}
    ApprovalLog(settings).append({**fields, "decision": "approved", "reasons": [], "policy": "bench"})
    return PaymentIntent.model_validate({**fields, "chain": "eip155:84532", "token": "USDC"})


def round_trips(manager: PaymentManager, settings: Settings, prefix: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        paying = intent(settings, hash((prefix, i)))
        start = time.perf_counter()
        payment = manager.authorize(paying, f"{prefix}-key-{i:04d}")
        manager.capture(payment.payment_id)
        times.append(time.perf_counter() - start)
    return times


def describe(name: str, times: list[float]) -> float:
    median = statistics.median(times)
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    print(f"{name:38} median {median * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   (n={len(times)})")
    return median


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as root:
        os.environ["GENESIS_ROOT"] = root
        settings = Settings()
        fund_fake_wallets(settings, {"bench-agent": Decimal(10_000)})
        fake = local_facilitator(settings)
        in_process = FacilitatorClient("http://fake.invalid", timeout_seconds=10,
                                       transport=facilitator_transport(fake))
        round_trips(PaymentManager(settings, facilitator=in_process), settings, "warm", 3)
        baseline = describe("authorize→capture, in process", round_trips(
            PaymentManager(settings, facilitator=in_process), settings, "inproc", n))
        with FacilitatorServer(LocalFacilitator(fake.rpc_url)) as server:
            client = FacilitatorClient(server.url, timeout_seconds=10)
            health = []
            for _ in range(n):
                start = time.perf_counter()
                client._http.get("/health")
                health.append(time.perf_counter() - start)
            floor = describe("GET /health, loopback HTTP", health)
            loopback = describe("authorize→capture, loopback HTTP", round_trips(
                PaymentManager(settings, facilitator=client), settings, "loop", n))
        print(f"loopback / in-process round trip: {loopback / baseline:.2f}x; "
              f"HTTP floor is {2 * floor / loopback:.0%} of the loopback round trip (2 calls)")


if __name__ == "__main__":
    main()
