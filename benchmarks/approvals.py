"""Approval throughput: decisions/s on a log that already holds 1,000,000 decisions, against the raw ceiling.

    python benchmarks/approvals.py [--existing 1000000] [--decisions 3000] [--rounds 5]

Every decision is durably appended (fdatasync before it returns). The baseline, measured in the
same run on the same filesystem, is the raw ceiling: plain locked appends (open, flock, one
write, fdatasync, close) of a line of the same size. Rounds alternate between the two so that
load from other processes on the machine hits both alike. A last phase measures decisions/s
without fsync (`GENESIS_FSYNC=false`, a setting for tests). Targets: ≥ 70 % of the ceiling,
p99 < 2 ms, and ≥ 20,000 decisions/s without fsync.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import DEFAULT_POLICY, load_policy
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import GENESIS_HASH, chained_line
from genesis_payments.ledgers.jsonl import JsonlAppender
from genesis_payments.ledgers.ledgers import BusinessMonitor

AGENTS = [f"agent-{n}" for n in range(50)]
VENDORS = ["payments:deploy:vercel", "media:images:replicate", "llm:openai", "voice:elevenlabs", "search:serpapi"]


class AllVendors:
    def supports(self, vendor: str, chain: str, token: str) -> bool:
        return vendor in VENDORS


def generate_log(path: Path, count: int, policy_hash: str) -> tuple[int, float]:
    """`count` correctly chained decisions spread over the 365 days before today, written in bulk."""
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=365)
    step = timedelta(days=365) / max(count, 1)
    prev = GENESIS_HASH
    size = 0
    with open(path, "wb") as handle:
        chunk: list[bytes] = []
        for n in range(count):
            ts = (first + step * n).isoformat(timespec="microseconds")
            body = {
                "decision_id": os.urandom(16).hex(), "ts": ts, "intent_id": f"old-{n}",
                "agent": AGENTS[n % 50], "vendor": VENDORS[n % 5], "component": "copy", "strategy": "launch",
                "cost_usd": "0.010000", "business_id": f"biz-{n % 400}", "chain": "eip155:8453", "token": "USDC",
                "decision": "approved" if n % 10 else "denied", "reasons": [] if n % 10 else ["agent_flagged: x"],
                "policy": policy_hash, "prev_hash": prev,
            }
            prev, line = chained_line(body)
            chunk.append(line)
            if len(chunk) == 10_000:
                data = b"".join(chunk)
                handle.write(data)
                size += len(data)
                chunk = []
        data = b"".join(chunk)
        handle.write(data)
        size += len(data)
        handle.flush()
        os.fsync(handle.fileno())
    return size, time.perf_counter() - start


def intents(prefix: str, count: int) -> list[dict[str, str]]:
    return [
        {"intent_id": f"{prefix}-{n}", "agent": AGENTS[n % 50], "vendor": VENDORS[n % 5], "component": "copy",
         "strategy": "launch", "cost_usd": "0.01", "business_id": f"biz-{n % 400}"}
        for n in range(count)
    ]


def decide(agent: GenesisMetaAgent, batch: list[dict[str, str]]) -> tuple[float, list[int], float]:
    """(wall seconds, per-decision latencies in ns, CPU seconds of this process)."""
    latencies = []
    cpu = time.process_time()
    start = time.perf_counter()
    for intent in batch:
        t0 = time.perf_counter_ns()
        agent.approve_payment_intent(intent)
        latencies.append(time.perf_counter_ns() - t0)
    return time.perf_counter() - start, latencies, time.process_time() - cpu


def ceiling(path: Path, line: bytes, count: int, *, fsync: bool = True) -> tuple[float, list[int]]:
    """Plain locked appends (open, flock, one write, fdatasync, close): (wall seconds, latencies in ns)."""
    appender = JsonlAppender(path, fsync=fsync)
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter_ns()
        with appender.locked() as handle:
            handle.write(line)
        latencies.append(time.perf_counter_ns() - t0)
    return time.perf_counter() - start, latencies


def percentile(values: list[int], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=3000, help="decisions with fsync, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nofsync-decisions", type=int, default=30_000)
    parser.add_argument("--root", type=Path, default=None, help="data root (default: a temporary folder)")
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="genesis-bench-approvals-"))
    settings = Settings(root=root, fsync=True)
    # A root in use: a policy file (the defaults, written out) and payment events.
    settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
    settings.effective_policy_path.write_text(json.dumps(DEFAULT_POLICY, indent=2))
    policy = load_policy(settings)
    monitor = BusinessMonitor(Settings(root=root, fsync=False))
    for n in range(1000):
        monitor.log_payment({"payment_id": f"p{n}", "status": "captured", "agent": AGENTS[n % 50],
                             "vendor": VENDORS[n % 5], "chain": "eip155:8453", "token": "USDC",
                             "amount_usd": "0.01", "intent_id": f"old-{n}"})
    size, took = generate_log(settings.approval_log_path, args.existing, policy.hash)
    print(f"generated {args.existing:,} chained decisions ({size / 1e6:.0f} MB) in {took:.1f} s")

    start = time.perf_counter()
    agent = GenesisMetaAgent(settings, vendors=AllVendors())
    agent.expire_overdue_reviews()  # the first lock reads the whole log: a restart's cost
    startup = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"agent start (rebuild budgets from the log): {startup:.2f} s, max RSS {rss_mb:.0f} MB")

    sample = agent.approve_payment_intent(intents("probe", 1)[0])
    with open(settings.approval_log_path, "rb") as log:
        log.seek(-4096, os.SEEK_END)
        line_size = len(log.read().splitlines()[-1]) + 1
    assert sample.decision == "approved", sample.reasons
    raw_line = b"x" * (line_size - 1) + b"\n"
    raw_path = settings.approval_log_path.with_name("ceiling.jsonl")

    per_round = max(1, args.decisions // args.rounds)
    batch = intents("bench", per_round * args.rounds)
    decision_time, ceiling_time, latencies, ceiling_latencies = 0.0, 0.0, [], []
    for r in range(args.rounds):
        took, lat = ceiling(raw_path, raw_line, per_round)
        ceiling_time += took
        ceiling_latencies += lat
        took, lat, _ = decide(agent, batch[r * per_round:(r + 1) * per_round])
        decision_time += took
        latencies += lat
    total = per_round * args.rounds
    ceiling_rate = total / ceiling_time
    rate = total / decision_time
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)

    fast = GenesisMetaAgent(Settings(root=root, fsync=False), vendors=AllVendors())
    fast.expire_overdue_reviews()
    nofsync_batch = intents("fast", args.nofsync_decisions)
    took, nofsync_lat, cpu = decide(fast, nofsync_batch)
    nofsync_rate = len(nofsync_batch) / took
    raw_nofsync_took, _ = ceiling(raw_path, raw_line, len(nofsync_batch), fsync=False)
    load = os.getloadavg()[0]

    print(f"line size: {line_size} bytes; {total} decisions with fsync in {args.rounds} rounds")
    print(f"raw ceiling (locked append + fdatasync):  {ceiling_rate:10,.0f} appends/s")
    print(f"decisions with fsync:                     {rate:10,.0f} decisions/s  "
          f"= {rate / ceiling_rate:.0%} of the ceiling (target >= 70%)")
    print(f"latency with fsync: p50 {p50:.3f} ms, p99 {p99:.3f} ms (target p99 < 2 ms); "
          f"ceiling's own p50 {percentile(ceiling_latencies, 0.5):.3f} ms, "
          f"p99 {percentile(ceiling_latencies, 0.99):.3f} ms")
    print(f"decisions without fsync:                  {nofsync_rate:10,.0f} decisions/s (target >= 20,000); "
          f"p50 {percentile(nofsync_lat, 0.5) * 1000:.1f} us, p99 {percentile(nofsync_lat, 0.99) * 1000:.1f} us")
    print(f"  CPU per decision without fsync: {cpu / len(nofsync_batch) * 1e6:.1f} us "
          f"(= {len(nofsync_batch) / cpu:,.0f} decisions per CPU-second); "
          f"raw locked append without fsync: {len(nofsync_batch) / raw_nofsync_took:,.0f} appends/s; "
          f"1-min load average during the run: {load:.2f} on {os.cpu_count()} CPUs")
    print(f"log now holds {sum(1 for _ in open(settings.approval_log_path, 'rb')):,} decisions; "
          f"statistics: mean fsync latency {statistics.fmean(latencies) / 1e6:.3f} ms")
    if args.root is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
