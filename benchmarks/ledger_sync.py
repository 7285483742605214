"""Ledger-sync benchmark: the library against naive pandas and DuckDB, on the same files, same run.

    python benchmarks/ledger_sync.py [--payments 1000000] [--root DIR] [--seed 0] [--repeat 1]

Generates the ledgers once (with `benchmarks/generate.py` when present, else the stand-in
`benchmarks/tiny_generate.py`), then measures each contender in its own subprocess, so each peak
RSS is honest: wall time from the first byte read to the finished findings (imports excluded for
all three), and the process's peak resident memory. Every contender computes all five finding
kinds with the same rules (grace period included), and their counts are cross-checked.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

GRACE_SECONDS = 600
KINDS = ("missing_in_ledger", "missing_in_transactions", "duplicate_entry", "debit_without_capture",
         "amount_mismatch")


def generate_data(root: Path, payments: int, seed: int) -> None:
    marker = root / f".generated-{payments}-{seed}"
    if marker.exists():
        return
    try:
        from generate import generate  # the foundation's generator, once merged
    except ImportError:
        from tiny_generate import generate
    root.mkdir(parents=True, exist_ok=True)
    generate(root, payments, seed=seed)
    marker.touch()


def paths(root: Path) -> tuple[Path, Path]:
    from genesis_payments.core.settings import Settings

    settings = Settings(root=root)
    return settings.transactions_path, settings.finance_ledger_path


# -- contenders (each run in a subprocess) -----------------------------------------------------


def run_library(root: Path, now: datetime) -> dict[str, int]:
    from genesis_payments.jobs.reconciliation import ENTRY_COLUMNS_NEEDED, EVENT_COLUMNS_NEEDED, reconcile
    from genesis_payments.ledgers.frames import read_finance_entries_frame, read_payment_events_frame

    tx, ledger = paths(root)
    events = read_payment_events_frame(tx, columns=EVENT_COLUMNS_NEEDED)  # as flows/ledger_sync.py reads them
    entries = read_finance_entries_frame(ledger, columns=ENTRY_COLUMNS_NEEDED)
    result = reconcile(events.frame, entries.frame, now=now, grace_seconds=GRACE_SECONDS)
    return {**result.counts, "bad_lines": len(events.bad_lines) + len(entries.bad_lines)}


def run_pandas(root: Path, now: datetime) -> dict[str, int]:
    """The obvious pandas: read_json(lines=True) of whole files, groupby, merge."""
    import pandas as pd

    tx, ledger = paths(root)
    events = pd.read_json(tx, lines=True, dtype=False)
    entries = pd.read_json(ledger, lines=True, dtype=False)
    for frame in (events, entries):
        frame["micro"] = (frame["amount_usd"].astype(float) * 1_000_000).round().astype("int64")
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    cutoff = pd.Timestamp(now) - pd.Timedelta(seconds=GRACE_SECONDS)
    ev = events.groupby("payment_id").agg(last=("ts", "max"))
    caps = events[events["status"] == "captured"].groupby("payment_id")["micro"].last().rename("captured")
    entries["signed"] = entries["micro"].where(entries["kind"] == "debit", -entries["micro"])
    entries["is_debit"] = (entries["kind"] == "debit").astype("int64")
    en = entries.groupby("payment_id").agg(
        elast=("ts", "max"), net=("signed", "sum"), debits=("is_debit", "sum"), n=("kind", "size"))
    merged = ev.join(caps, how="left").merge(en, left_index=True, right_index=True, how="outer")
    last = merged[["last", "elast"]].max(axis=1)
    merged = merged[~(last > cutoff)]
    has_event, has_entry, cap = merged["last"].notna(), merged["n"].fillna(0) > 0, merged["captured"].notna()
    debits = merged["debits"].fillna(0)
    return {
        "missing_in_ledger": int((cap & (debits == 0)).sum()),
        "missing_in_transactions": int((has_entry & ~has_event).sum()),
        "duplicate_entry": int((cap & (debits > 1)).sum()),
        "debit_without_capture": int((has_entry & has_event & ~cap).sum()),
        "amount_mismatch": int((cap & (debits == 1) & (merged["net"] != merged["captured"])).sum()),
    }


def run_duckdb(root: Path, now: datetime) -> dict[str, int]:
    """A DuckDB full outer join over the same files, the same rules in SQL."""
    import duckdb

    tx, ledger = paths(root)
    cutoff = (now.timestamp() - GRACE_SECONDS) * 1_000_000
    sql = f"""
    WITH ev AS (
      SELECT payment_id, max(epoch_us(ts::TIMESTAMPTZ)) AS last,
             bool_or(status = 'captured') AS captured,
             arg_max(CASE WHEN status = 'captured' THEN round(amount_usd::DECIMAL(18,6) * 1000000)::BIGINT END,
                     CASE WHEN status = 'captured' THEN epoch_us(ts::TIMESTAMPTZ) END) AS cap_micro
      FROM read_json('{tx}', format='newline_delimited',
                     columns={{payment_id: 'VARCHAR', status: 'VARCHAR', amount_usd: 'VARCHAR', ts: 'VARCHAR'}})
      GROUP BY payment_id),
    en AS (
      SELECT payment_id, max(epoch_us(ts::TIMESTAMPTZ)) AS last,
             count(*) FILTER (WHERE kind = 'debit') AS debits,
             sum(CASE WHEN kind = 'debit' THEN 1 ELSE -1 END
                 * round(amount_usd::DECIMAL(18,6) * 1000000)::BIGINT) AS net
      FROM read_json('{ledger}', format='newline_delimited',
                     columns={{payment_id: 'VARCHAR', kind: 'VARCHAR', amount_usd: 'VARCHAR', ts: 'VARCHAR'}})
      GROUP BY payment_id),
    j AS (
      SELECT ev.payment_id IS NOT NULL AS has_event, en.payment_id IS NOT NULL AS has_entry,
             coalesce(ev.captured, false) AS cap, coalesce(en.debits, 0) AS debits, en.net, ev.cap_micro
      FROM ev FULL OUTER JOIN en USING (payment_id)
      WHERE greatest(coalesce(ev.last, 0), coalesce(en.last, 0)) <= {cutoff})
    SELECT
      count(*) FILTER (WHERE cap AND debits = 0),
      count(*) FILTER (WHERE has_entry AND NOT has_event),
      count(*) FILTER (WHERE cap AND debits > 1),
      count(*) FILTER (WHERE has_entry AND has_event AND NOT cap),
      count(*) FILTER (WHERE cap AND debits = 1 AND net <> cap_micro)
    FROM j"""
    [row] = duckdb.sql(sql).fetchall()
    return dict(zip(KINDS, (int(v) for v in row), strict=True))


CONTENDERS = {"library": run_library, "pandas": run_pandas, "duckdb": run_duckdb}


def measure(name: str, root: Path, now: datetime) -> dict:
    # Each contender's imports first, outside the clock (and only its own, for an honest RSS).
    import pandas  # noqa: F401

    if name == "duckdb":
        import duckdb  # noqa: F401
    if name == "library":
        pass

    start = time.perf_counter()
    counts = CONTENDERS[name](root, now)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"contender": name, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb, 1), "counts": counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/genesis-bench-ledger-sync"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the best time is kept")
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append")
    parser.add_argument("--measure", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.root, datetime.fromisoformat(args.now))))
        return 0

    generate_data(args.root, args.payments, args.seed)
    tx, ledger = paths(args.root)
    size_mb = (tx.stat().st_size + ledger.stat().st_size) / 1e6
    now = datetime.now(UTC).isoformat()
    print(f"{args.payments:,} payments, {size_mb:,.0f} MB of JSONL under {args.root}")
    results = {}
    for name in args.only or ["duckdb", "library", "pandas"]:
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", name, "--root", str(args.root), "--now", now],
                check=True, capture_output=True, text=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["seconds"])
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        results[name] = best
        print(f"  {name:8s} {best['seconds']:8.3f} s  {best['peak_rss_mb']:8.1f} MB peak RSS  {best['counts']}")
    if "duckdb" in results and "library" in results:
        lib, duck = results["library"], results["duckdb"]
        print(f"library / duckdb: time {lib['seconds'] / duck['seconds']:.2f}x, "
              f"memory {lib['peak_rss_mb'] / duck['peak_rss_mb']:.2f}x  (target: time <= 2x, memory < 400 MB)")
        same = all(lib["counts"][k] == duck["counts"][k] for k in KINDS)
        print("finding counts agree with duckdb" if same else "FINDING COUNTS DIFFER FROM DUCKDB")
    if "pandas" in results and "library" in results:
        lib, naive = results["library"], results["pandas"]
        print(f"naive pandas / library: time {naive['seconds'] / lib['seconds']:.1f}x, "
              f"memory {naive['peak_rss_mb'] / lib['peak_rss_mb']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
