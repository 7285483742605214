"""PostgreSQL store benchmarks (§12), each against its files-store baseline measured in the same run.

    python benchmarks/postgres.py ledger_sync [--payments 1000000] [--root DIR] [--database-url URL]

Sections (one function each; the approvals helper's sections join this file):

`ledger_sync` — ledger-sync on N payments: the same histories (benchmarks/generate.py) as files and,
loaded by `genesis-payments import`, in PostgreSQL; then, each in its own subprocess (honest peak
RSS), the job's full scan (`run_ledger_sync(full=True)`: every event and entry read, folded and
reconciled) and its incremental run from a fresh checkpoint (nothing new: what an idle night costs),
on both stores, with their finding counts cross-checked. Without `--database-url` a throwaway
cluster (genesis_payments.postgres.local_cluster, 127.0.0.1, trust) is started under the root.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _settings(root: Path, url: str | None):
    from genesis_payments.core.settings import Settings

    return Settings(root=root, database_url=url, chain_reconciliation=False)


def _measure_ledger_sync(root: Path, url: str | None, now: datetime, kind: str) -> dict:
    from genesis_payments.jobs.ledger_sync_checkpoint import run_ledger_sync

    settings = _settings(root, url)
    if kind == "checkpoint":  # the checkpoint the incremental run goes on from, made in a process of its own
        run = run_ledger_sync(settings, now, full=True)
        return {"seconds": 0.0, "peak_rss_mb": _peak_rss_mb(), "counts": run.result.counts, "scan": run.scan,
                "lines_read": run.lines_read}
    start = time.perf_counter()
    run = run_ledger_sync(settings, now, full=kind == "full", save=False)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "peak_rss_mb": _peak_rss_mb(), "counts": run.result.counts,
            "scan": run.scan, "lines_read": run.lines_read}


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (getrusage's ru_maxrss
    would carry the parent's peak over into a child that the parent exec'd)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _subprocess(root: Path, url: str | None, now: str, kind: str) -> dict:
    args = [sys.executable, __file__, "--measure", kind, "--root", str(root), "--now", now]
    if url:
        args += ["--database-url", url]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _database(root: Path, url: str | None, fresh: str):
    """(url of a fresh migrated database, cluster to stop or None)."""
    from genesis_payments.postgres.local_cluster import LocalCluster
    from genesis_payments.postgres.migrate import upgrade

    cluster = None
    if url is None:
        cluster = LocalCluster(Path("/tmp") / f"genesis-bench-pg-{os.getpid()}")
        cluster.start()
        url = cluster.url()
    from genesis_payments.postgres.connection import connect
    from genesis_payments.postgres.databases import with_database

    with connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {fresh}")
    fresh_url = with_database(url, fresh)
    upgrade(fresh_url)
    return fresh_url, cluster


def ledger_sync(payments: int, root: Path, url: str | None, seed: int, repeat: int) -> dict:
    from ledger_sync import generate_data

    from genesis_payments.postgres.transfer import import_store

    generate_data(root, payments, seed)
    database = f"bench_ledger_sync_{os.getpid()}"
    pg_url, cluster = _database(root, url, database)
    try:
        started = time.perf_counter()
        loaded = import_store(_settings(root / "pg-root", pg_url), root)
        load_seconds = time.perf_counter() - started
        events = loaded.records["transactions.jsonl"]
        print(f"{payments:,} payments: {events:,} events and {loaded.records['finance_ledger.jsonl']:,} entries; "
              f"import into PostgreSQL {load_seconds:.1f} s, {_peak_rss_mb():,.0f} MB peak RSS")
        now = datetime.now(UTC).isoformat()
        results: dict[str, dict] = {}
        for kind in ("full", "incremental"):
            for store, store_url, where in (("files", None, root), ("postgres", pg_url, root / "pg-root")):
                if kind == "incremental":
                    _subprocess(where, store_url, now, "checkpoint")
                runs = [_subprocess(where, store_url, now, kind) for _ in range(repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                results[f"{store} {kind}"] = best
                print(f"  {store:8s} {kind:11s} {best['seconds']:8.3f} s  {best['peak_rss_mb']:8.1f} MB peak RSS  "
                      f"{best['lines_read']:,} lines read")
            files, pg = results[f"files {kind}"], results[f"postgres {kind}"]
            print(f"  {kind}: postgres / files time {pg['seconds'] / max(files['seconds'], 1e-9):.2f}x, "
                  f"memory {pg['peak_rss_mb'] / files['peak_rss_mb']:.2f}x")
        same = results["files full"]["counts"] == results["postgres full"]["counts"]
        print("finding counts agree on both stores" if same else "FINDING COUNTS DIFFER BETWEEN THE STORES")
        return {"load_seconds": load_seconds, **results, "agree": same}
    finally:
        from genesis_payments.postgres.connection import connect

        admin = url or (cluster.url() if cluster else None)
        if admin:
            with connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.folder, ignore_errors=True)  # a throwaway cluster leaves nothing behind


SECTIONS = {"ledger_sync": ledger_sync}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", nargs="?", choices=sorted(SECTIONS), default="ledger_sync")
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/genesis-bench-ledger-sync"))
    parser.add_argument("--database-url", help="a PostgreSQL server to use (a throwaway cluster otherwise)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best time is kept")
    parser.add_argument("--measure", choices=("full", "incremental", "checkpoint"), help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure_ledger_sync(args.root, args.database_url, datetime.fromisoformat(args.now),
                                              args.measure)))
        return 0
    SECTIONS[args.section](args.payments, args.root, args.database_url, args.seed, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
