"""Appends per second through `BusinessMonitor.log_payment`, against the raw ceiling of the same run.

    python benchmarks/append.py [--calls 3000] [--processes 1,4] [--existing 1000000 | --root DIR]

The ceiling is what the disk allows for the contract's durability: each append takes the exclusive
`flock`, writes one line in one `write`, `fdatasync`s and unlocks — with the file opened once, and
the line (the very bytes `log_payment` writes) encoded in advance. `log_payment` does the same plus
everything a real call does: validate the dict into a `PaymentEvent`, fill in `event_id` and `ts`,
serialise canonically. Both run against the same file, in 1 and 4 processes (N calls each), and the
ratio of the two rates is printed; the target is at least 70 %.

`--existing N` first generates N payments (`benchmarks/generate.py`) into a temporary root, so the
appends go to a ledger that already holds them; `--root DIR` uses a root generated before.
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_payments import BusinessMonitor, Settings
from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.jsonl import encode_line

TARGET = 0.70


def sample_event(proc: int, seq: int) -> dict:
    """A realistic payment event as a caller passes it: a dict without `event_id` or `ts`."""
    return {
        "payment_id": f"pay_{proc:04d}{seq:020d}", "status": "captured", "agent": "agent:builder-2",
        "vendor": "payments:deploy:vercel", "chain": "eip155:8453", "token": "USDC", "amount_usd": "20.000000",
        "business_id": "biz_4f2a9c1e", "intent_id": f"int_{proc:04d}{seq:020d}",
        "tx_hash": "0x" + "ab" * 32,
    }


def sample_line(proc: int, seq: int) -> bytes:
    """The exact bytes `log_payment` writes for `sample_event` (same size, so the same disk work)."""
    event = {**sample_event(proc, seq), "event_id": "0" * 32, "ts": "2026-11-26T03:00:00.000000+00:00"}
    return encode_line(PaymentEvent.model_validate(event))


def raw_appends(path: str, proc: int, calls: int, start: mp.Barrier, cpu: Any) -> None:
    lines = [sample_line(proc, seq) for seq in range(calls)]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start.wait()
    began = time.process_time()
    for line in lines:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fdatasync(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
    cpu[proc] = time.process_time() - began
    os.close(fd)


def log_payment_appends(root: str, proc: int, calls: int, start: mp.Barrier, cpu: Any) -> None:
    monitor = BusinessMonitor(Settings(root=Path(root)))
    start.wait()
    began = time.process_time()
    for seq in range(calls):
        monitor.log_payment(sample_event(proc, seq))
    cpu[proc] = time.process_time() - began


def rate(target: Any, arg: str, processes: int, calls: int) -> tuple[float, float]:
    """Appends per second of `processes` workers doing `calls` each, timed from a common start, and
    the CPU time (user + system) each append cost its process, in microseconds."""
    ctx = mp.get_context("fork")
    start = ctx.Barrier(processes + 1)  # every worker set up (lines encoded, monitor built) before the clock
    cpu = ctx.Array("d", processes)
    workers = [ctx.Process(target=target, args=(arg, proc, calls, start, cpu)) for proc in range(processes)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a worker failed with exit code {worker.exitcode}")
    elapsed = time.perf_counter() - began
    return processes * calls / elapsed, sum(cpu) / (processes * calls) * 1e6


def run(root: Path, calls: int, processes: list[int], rounds: int) -> list[dict]:
    settings = Settings(root=root)
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines_before = _count_lines(path)
    rows = []
    for count in processes:
        # Many short raw and log_payment rounds, back to back, so each pair sees the same disk and CPU
        # conditions (a shared machine swings several-fold from second to second). The ratio is the
        # median of the pairs' ratios; the rates are medians too.
        raw, logged, raw_cpu, logged_cpu = [], [], [], []
        for _ in range(rounds):
            for rates, cpus, target, arg in ((raw, raw_cpu, raw_appends, str(path)),
                                             (logged, logged_cpu, log_payment_appends, str(root))):
                per_second, cpu_us = rate(target, arg, count, calls)
                rates.append(per_second)
                cpus.append(cpu_us)
        rows.append({
            "raw_cpu_us": statistics.median(raw_cpu),
            "log_payment_cpu_us": statistics.median(logged_cpu),
            "processes": count,
            "ceiling": statistics.median(raw),
            "log_payment": statistics.median(logged),
            "ratio": statistics.median(b / a for a, b in zip(raw, logged, strict=True)),
            "best_ceiling": max(raw),
            "best_log_payment": max(logged),
        })
    added = _count_lines(path) - lines_before
    expected = sum(2 * rounds * count * calls for count in processes)
    if added != expected:
        raise SystemExit(f"expected {expected} new lines, found {added}")
    return rows


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="appends per process per round")
    parser.add_argument("--processes", default="1,4", help="comma-separated process counts")
    parser.add_argument("--rounds", type=int, default=15, help="paired rounds (raw, then log_payment)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--existing", type=int, default=0, help="first generate this many payments")
    where.add_argument("--root", type=Path, help="a root that already holds generated ledgers")
    args = parser.parse_args(argv)
    processes = [int(p) for p in args.processes.split(",")]

    temp = None
    root = args.root
    if root is None:
        temp = Path(tempfile.mkdtemp(prefix="genesis-append-bench-"))
        root = temp
        if args.existing:
            from generate import generate

            began = time.perf_counter()
            generate(root, args.existing)
            print(f"generated {args.existing:,} payments in {time.perf_counter() - began:.1f} s")
    try:
        existing = _count_lines(Settings(root=root).transactions_path)
        print(f"ledger holds {existing:,} lines before; {args.calls:,} appends per process per round, "
              f"{args.rounds} paired rounds; medians")
        rows = run(root, args.calls, processes, args.rounds)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    print(f"{'processes':>9}  {'ceiling/s':>10}  {'log_payment/s':>13}  {'ratio':>6}  verdict  (best rounds)")
    for row in rows:
        verdict = "ok" if row["ratio"] >= TARGET else f"below {TARGET:.0%}"
        print(f"{row['processes']:>9}  {row['ceiling']:>10,.0f}  {row['log_payment']:>13,.0f}  "
              f"{row['ratio']:>6.1%}  {verdict:>7}  ({row['best_ceiling']:,.0f} / {row['best_log_payment']:,.0f})")
    for row in rows:
        print(f"CPU per append in its own process, {row['processes']} proc (median, µs): "
              f"raw {row['raw_cpu_us']:.0f}, log_payment {row['log_payment_cpu_us']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
