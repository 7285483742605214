"""Exporter benchmark: first collection of a 1,000,000-event log, then scrapes after appends.

    python benchmarks/exporter.py [--events 1000000] [--batches 100] [--batch-size 1000] [--repeat 3] [--keep DIR]

Measures, in one run on the same file:
- baseline: a DuckDB scan of the log (`read_ndjson` with string columns, grouped counts and the
  captured sum as DECIMAL) — what any columnar engine needs just to read and aggregate the file;
- the exporter's first collection (a full scrape over HTTP: read, validate, aggregate, expose);
- after each of N batches of new events appended: one HTTP scrape (only the new lines are read).
Each DuckDB scan and each first collection runs in a new process of its own (a cold start, as a
real exporter's), the two alternating `--repeat` times; every pair is printed, and the ratio of
their medians is the figure (one pair swings by a quarter on a shared 2-core machine).
Targets: scrape median under 25 ms; first collection within 2x of the DuckDB scan.
The log is written directly here (the same event shapes the project's writers produce).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer

AGENTS = [f"agent-{i:02d}" for i in range(20)]
VENDORS = [f"vendor-{i:02d}" for i in range(40)] + ["payments:deploy:vercel"]
CHAINS = ["eip155:8453", "eip155:84532"]
START = datetime(2026, 1, 1, tzinfo=UTC)


class EventWriter:
    """Payments as their lifecycle events: mostly authorized→captured, some failed, cancelled, open."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.payment = 0
        self.event = 0
        self.clock = START

    def lines(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            self.payment += 1
            rng = self.rng
            agent, vendor, chain = rng.choice(AGENTS), rng.choice(VENDORS), rng.choice(CHAINS)
            amount = f"{rng.randrange(1, 50_000_000) / 1_000_000:.6f}"  # text only; money is never a float in code
            roll = rng.random()
            outcome = "captured" if roll < 0.85 else "failed" if roll < 0.93 else "cancelled" if roll < 0.98 else None
            self.clock += timedelta(milliseconds=rng.randrange(1, 200))
            out.append(self._line(agent, vendor, chain, amount, "authorized"))
            if outcome is not None and len(out) < count:
                self.clock += timedelta(milliseconds=rng.randrange(1, 200))
                out.append(self._line(agent, vendor, chain, amount, outcome))
        return out

    def _line(self, agent: str, vendor: str, chain: str, amount: str, status: str) -> str:
        self.event += 1
        ts = self.clock.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        record = {
            "event_id": f"evt-{self.event:09d}", "ts": ts, "payment_id": f"pay-{self.payment:09d}",
            "status": status, "agent": agent, "vendor": vendor, "chain": chain, "token": "USDC",
            "amount_usd": amount, "business_id": f"biz-{self.payment % 997}",
            "idempotency_key": f"idem-{self.payment:09d}",
        }
        if status == "authorized":
            record["valid_before"] = (self.clock + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        if status == "captured":
            record["tx_hash"] = "0x" + f"{self.payment:064x}"
        if status == "failed":
            record["error"] = "facilitator timeout"
        return json.dumps(record, separators=(",", ":"))


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as handle:
        handle.write("\n".join(lines) + "\n")


def duckdb_scan(path: Path) -> tuple[float, int]:
    import duckdb

    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in ("agent", "vendor", "chain", "status", "amount_usd"))
    query = f"""
        SELECT agent, vendor, chain, status, count(*) AS n,
               sum(CASE WHEN status = 'captured' THEN CAST(amount_usd AS DECIMAL(38, 6)) END) AS spend
        FROM read_ndjson('{path}', columns = {{{columns}}})
        GROUP BY ALL
    """
    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(query).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed, sum(r[4] for r in rows)


def measure_in_new_process(what: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--keep", str(root)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(what: str, settings: Settings) -> dict:
    """One DuckDB scan, or one exporter's start and first collection, in this (new) process."""
    if what == "duckdb":
        seconds, rows = duckdb_scan(settings.transactions_path)
        return {"ms": seconds * 1000, "rows": rows}
    started = time.perf_counter()
    server = ExporterServer(PaymentsCollector(settings), "127.0.0.1", 0).start()
    start_ms = (time.perf_counter() - started) * 1000
    try:
        started = time.perf_counter()
        body = scrape(f"http://127.0.0.1:{server.port}/metrics")
        ms = (time.perf_counter() - started) * 1000
        events = server.registry.get_sample_value("genesis_exporter_events_total")
    finally:
        server.stop()
    return {"ms": ms, "start_ms": start_ms, "events": int(events or 0), "page_kb": len(body) / 1000}


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=600) as response:
        return response.read()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="first collections and DuckDB scans, each")
    parser.add_argument("--keep", type=Path, help="use this directory as the root and keep it")
    parser.add_argument("--measure", choices=["duckdb", "first"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="genesis-exporter-bench-"))
    os.environ["GENESIS_ROOT"] = str(root)
    settings = Settings()
    if args.measure:
        print(json.dumps(measure(args.measure, settings)))
        return 0
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")

    writer = EventWriter(seed=6)
    started = time.perf_counter()
    for _ in range(0, args.events, 100_000):
        append(path, writer.lines(min(100_000, args.events - writer.event)))
    size_mb = path.stat().st_size / 1e6
    print(f"log: {args.events:,} events, {size_mb:.0f} MB, written in {time.perf_counter() - started:.1f} s")
    # On disk before anything is timed: the kernel writing hundreds of MB back in the background
    # would otherwise land in whichever measurement it overlaps.
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())

    ducks, firsts = [], []
    for _ in range(args.repeat):
        duck = measure_in_new_process("duckdb", root)
        first = measure_in_new_process("first", root)
        assert duck["rows"] == first["events"] == args.events, (duck, first)
        ducks.append(duck["ms"])
        firsts.append(first["ms"])
        # The exporter's start (bind, load the readers) is reported on its own, not hidden.
        print(f"pair      DuckDB read_ndjson + group by {duck['ms']:6.0f} ms; exporter first collection (HTTP scrape) "
              f"{first['ms']:6.0f} ms = {first['ms'] / duck['ms']:.2f}x (start {first['start_ms']:.0f} ms, "
              f"page {first['page_kb']:.0f} kB)")
    duck_ms, first_ms = statistics.median(ducks), statistics.median(firsts)
    print(f"baseline  DuckDB scan, median of {args.repeat}:               {duck_ms:8.0f} ms")
    print(f"exporter  first collection, median of {args.repeat}:          {first_ms:8.0f} ms  "
          f"= {first_ms / duck_ms:.2f}x DuckDB (target <= 2x)")

    server = ExporterServer(PaymentsCollector(settings), "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        scrape(url)
        assert server.registry.get_sample_value("genesis_exporter_events_total") == args.events

        scrapes = []
        for _ in range(args.batches):
            append(path, writer.lines(args.batch_size))
            started = time.perf_counter()
            scrape(url)
            scrapes.append(time.perf_counter() - started)
        expected = args.events + args.batches * args.batch_size
        assert server.registry.get_sample_value("genesis_exporter_events_total") == expected
        assert server.registry.get_sample_value("genesis_exporter_malformed_lines_total") == 0
        median, p99 = statistics.median(scrapes), percentile(scrapes, 0.99)
        batch = f"+{args.batch_size} events"
        print(f"exporter  scrape after {batch}, median:    {median * 1000:8.1f} ms  (target < 25 ms)")
        print(f"exporter  scrape after {batch}, p99:       {p99 * 1000:8.1f} ms  (max {max(scrapes) * 1000:.1f})")
        started = time.perf_counter()
        scrape(url)
        print(f"exporter  scrape with nothing new:               {(time.perf_counter() - started) * 1000:8.1f} ms")
    finally:
        server.stop()
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
