"""The benchmark scripts run with a tiny N, so they cannot rot; the generator's promises are checked.

The generated ledgers are checked against a small reference reconciliation written here from the
contract (§5), independent of the jobs, so `expected.json` is known to be what a correct job finds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.records import FinanceEntry, PaymentEvent
from genesis_payments.ledgers.jsonl import encode_line, read_jsonl

REPO = Path(__file__).resolve().parents[1]
STALE = timedelta(minutes=15)


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _reference_findings(events: list[PaymentEvent], entries: list[FinanceEntry], now: datetime) -> dict:
    by_payment: dict[str, list[PaymentEvent]] = defaultdict(list)
    for event in events:
        by_payment[event.payment_id].append(event)
    debits: dict[str, list[FinanceEntry]] = defaultdict(list)
    for entry in entries:
        if entry.kind == "debit":
            debits[entry.payment_id].append(entry)
    found: dict[str, set[str]] = defaultdict(set)
    for pid in set(by_payment) | set(debits):
        history = sorted(by_payment.get(pid, []), key=lambda e: e.ts)
        captured = [e for e in history if e.status == "captured"]
        paid = debits.get(pid, [])
        if not history:
            found["missing_in_transactions"].add(pid)
        elif not captured:
            if paid:
                found["debit_without_capture"].add(pid)
        elif not paid:
            found["missing_in_ledger"].add(pid)
        elif len(paid) > 1:
            found["duplicate_entry"].add(pid)
        elif paid[0].amount_usd != captured[-1].amount_usd:
            found["amount_mismatch"].add(pid)
        if history:
            latest = history[-1]
            if latest.status == "authorized":
                if latest.valid_before is not None and latest.valid_before < now:
                    found["expired_authorization"].add(pid)
                elif now - latest.ts > STALE:
                    found["stale_authorization"].add(pid)
            elif latest.status == "settlement_pending" and now - latest.ts > STALE:
                found["stale_settlement"].add(pid)
    streaks: dict[str, int] = defaultdict(int)
    for event in sorted(events, key=lambda e: e.ts):
        if event.status == "failed":
            streaks[event.vendor] += 1
        elif event.status == "captured":
            streaks[event.vendor] = 0
    found["failure_streak"] = {f"{v}={n}" for v, n in streaks.items() if n >= 5}
    return found


def test_generate_writes_valid_canonical_lines_and_the_findings_it_reports(tmp_path):
    root = tmp_path / "gen"
    out = _run("generate.py", "--root", str(root), "--payments", "3000", "--seed", "7")
    assert "3,000 payments" in out
    expected = json.loads((root / "expected.json").read_text())
    events = read_jsonl(root / "data/a2a-x402/transactions/transactions.jsonl", PaymentEvent)
    entries = read_jsonl(root / "logs/finance_ledger.jsonl", FinanceEntry)
    assert events.bad_lines == [] and entries.bad_lines == []
    assert len(events.records) == expected["totals"]["events"]
    assert len(entries.records) == expected["totals"]["debits"]
    # Byte for byte what log_payment / FinanceLedger.record would have written.
    raw = (root / "data/a2a-x402/transactions/transactions.jsonl").read_bytes().splitlines(keepends=True)
    assert [encode_line(r) for r in events.records[:500]] == raw[:500]
    assert len({e.payment_id for e in events.records} | {e.payment_id for e in entries.records}) == 3000

    now = datetime.now(UTC)
    found = _reference_findings(events.records, entries.records, now)
    for job in ("ledger-sync", "stale-payments"):
        for kind, findings in expected[job].items():
            assert findings, kind
            assert {f["payment_id"] for f in findings} == found[kind], kind
    streak = expected["monitor-alerts"]["failure_streak"]
    assert {f"{f['vendor']}={f['streak']}" for f in streak} == found["failure_streak"]
    wallets = json.loads((root / "data/a2a-x402/fake/wallets.json").read_text())
    low = {a for a, b in wallets.items() if Decimal(b) < 50}
    assert low == {f["agent"] for f in expected["monitor-alerts"]["low_balance"]}


def test_append_benchmark_runs_and_reports_both_rates(tmp_path):
    out = _run("append.py", "--calls", "30", "--processes", "1,2", "--rounds", "1", "--existing", "500")
    assert "generated 500 payments" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(row[3].endswith("%") for row in rows)


def test_exporter_benchmark_runs_and_reports_the_median_ratio(tmp_path):
    out = _run("exporter.py", "--events", "3000", "--batches", "2", "--batch-size", "50", "--repeat", "2",
               "--keep", str(tmp_path / "root"))
    assert out.count("pair      DuckDB") == 2
    assert "first collection, median of 2" in out and "x DuckDB (target <= 2x)" in out
    assert "scrape after +50 events, median" in out


def test_ledger_sync_benchmark_runs_and_its_contenders_agree(tmp_path):
    out = _run("ledger_sync.py", "--payments", "2000", "--root", str(tmp_path / "root"), "--only", "library",
               "--only", "duckdb")
    assert "finding counts agree with duckdb" in out


def test_postgres_ledger_sync_benchmark_runs_on_both_stores_and_they_agree(tmp_path, pg_cluster):
    out = _run("postgres.py", "--url", pg_cluster.cluster.url(), "--section", "ledger_sync", "--payments", "2000",
               "--root", str(tmp_path / "root"))
    assert "full: postgres / files time" in out and "incremental: postgres / files time" in out
    assert "finding counts agree on both stores" in out


def test_approvals_benchmark_runs_and_reports_the_ceiling_ratio(tmp_path):
    out = _run("approvals.py", "--existing", "500", "--decisions", "40", "--rounds", "2", "--nofsync-decisions", "50")
    assert "generated 500 chained decisions" in out
    assert "of the ceiling (target >= 70%)" in out and "p99" in out


def test_incremental_benchmark_runs_and_its_checkpointed_figures_agree(tmp_path):
    out = _run("incremental.py", "--payments", "600", "--new", "300", "--decisions", "500", "--root",
               str(tmp_path / "root"))
    assert "nightly findings agree with the full rescan" in out and "nightly / alone: time" in out
    assert "warm figures agree with a full read" in out and "warm state agrees with the rebuild" in out


def test_postgres_benchmark_approvals_section_runs_and_reports_the_ratios(pg_cluster):
    out = _run("postgres.py", "--url", pg_cluster.cluster.url(), "--section", "approvals", "--existing", "50",
               "--decisions", "16", "--processes", "2", "--rounds", "1", "--modes", "head,serializable")
    assert "chain preloaded with 50 decisions" in out
    assert "head:" in out and "serializable:" in out and "of the ceiling" in out and "x the JSONL store" in out


@pytest.mark.slow
def test_cli_latency_benchmark_runs_against_a_real_server(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cli_latency.py"), "--job", "stale-payments",
                           "--rounds", "1", "--skip-temporary"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "with a server running: median" in done.stdout and "bare trivial flow run" in done.stdout


def test_buyer_benchmark_runs_both_buyers_and_reports_the_ratio():
    out = _run("buyer.py", "--purchases", "4", "--rounds", "2")
    assert "SDK x402HttpxClient" in out and "project buyer" in out
    assert "x the SDK's time per purchase (target <= 1.5x)" in out


@pytest.mark.slow
def test_chain_sync_benchmark_runs_and_reports_both_ratios():
    out = _run("chain_sync.py", "--payments", "60", "--more", "10", "--wallets", "3", "--batch", "20",
               "--repeat", "1")
    assert "full:        ledger-sync on-chain part" in out and "receipts by web3" in out
    assert "incremental: +10 payments" in out and "(target <= 2x)" in out
