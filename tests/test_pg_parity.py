"""One dataset on both stores (§12): files, and PostgreSQL loaded by `import`; every job says the same.

Also `export`/`import` themselves: byte-identical round trip (so `audit verify` passes on the
export), importing twice is importing once, and a broken chain or a bad line is refused whole.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from benchmarks.tiny_generate import generate
from genesis_payments.cli.main import main
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.jsonl import encode_line
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments.fakes.fake_keys import fund_fake_wallets
from genesis_payments.postgres import transfer
from tests.support.ledgers import entry, event
from tests.support.payments import approve, make_intent

LEDGER_FILES = ("data/a2a-x402/transactions/transactions.jsonl", "logs/finance_ledger.jsonl",
                "data/a2a-x402/approval_log.jsonl", "data/a2a-x402/spend_summaries.jsonl")


def ago(minutes: float) -> str:
    return format_utc(utc_now() - timedelta(minutes=minutes))


def dataset(root: Path) -> None:
    """Old history with planted ledger-sync problems, plus this week's activity: decisions, a failure
    streak, a stale and an expired authorization, an invalid transition, a spend summary's inputs."""
    generate(root, 400, seed=3)
    settings = Settings(root=root)
    for n, decision in enumerate(["approved", "approved", "denied", "pending_review"]):
        approve(settings, make_intent(intent_id=f"week-{n}", business_id="biz-week"), decision)
    monitor, ledger = BusinessMonitor(settings), FinanceLedger(settings)
    for n in range(5):
        monitor.log_payment(event(f"flaky-{n}", "failed", ago(300 - n), vendor="flaky", agent="agent-01"))
    for pid, amount, minutes in (("week-a", "1.25", 2000), ("week-b", "0.000001", 3000)):
        monitor.log_payment(event(pid, "authorized", ago(minutes), amount, business_id="biz-week", intent_id=pid))
        monitor.log_payment(event(pid, "captured", ago(minutes - 1), amount, business_id="biz-week", intent_id=pid))
        ledger.record(entry(pid, amount, ts=ago(minutes - 2)))
    monitor.log_payment(event("week-a", "captured", ago(1000), "1.25"))  # after a terminal state
    for pid, debits in (("no-debit", []), ("wrong", ["2"]), ("twice", ["1", "1"])):
        monitor.log_payment(event(pid, "authorized", ago(2500), "1"))
        monitor.log_payment(event(pid, "captured", ago(2499), "1"))
        for n, amount in enumerate(debits):
            ledger.record(entry(pid, amount, ts=ago(2498), n=n))
    ledger.record(entry("ghost", "7", ts=ago(800)))
    monitor.log_payment(event("stuck", "authorized", ago(40), "3", valid_before=ago(-60)))
    monitor.log_payment(event("late", "authorized", ago(40), "4", valid_before=ago(5)))
    monitor.log_payment(event("settling", "authorized", ago(50), "5"))
    monitor.log_payment(event("settling", "settlement_pending", ago(49), "5"))


def _comparable(report: dict) -> dict:
    out = {k: v for k, v in report.items() if k not in ("started_at", "finished_at")}
    out["findings"] = [{k: v for k, v in f.items() if k != "age_seconds"} for f in report.get("findings", [])]
    if "summary" in out:
        out["summary"] = {k: v for k, v in out["summary"].items() if k != "ts"}
    return out


def _run_jobs() -> dict[str, dict]:
    from flows.business_summary import business_summary
    from flows.ledger_sync import ledger_sync
    from flows.monitor_alerts import monitor_alerts
    from flows.stale_payments import stale_payments
    from flows.weekly_report import weekly_report

    return {"ledger-sync": ledger_sync(), "stale-payments": stale_payments(), "monitor-alerts": monitor_alerts(),
            "weekly-report": weekly_report(), "business-summary": business_summary("biz-week"),
            "ledger-sync again": ledger_sync(), "stale-payments again": stale_payments()}


@pytest.mark.slow
def test_every_job_reports_the_same_on_files_and_on_postgres_loaded_by_import(flow_env, local_chain, pg_url,
                                                                              tmp_path, monkeypatch):
    monkeypatch.setenv("GENESIS_CHAIN_RECONCILIATION", "false")  # no chain history behind this dataset
    files_root, pg_root = tmp_path / "files", tmp_path / "pg"
    dataset(files_root)
    for root in (files_root, pg_root):
        fund_fake_wallets(Settings(root=root), {"agent-00": 12, "agent-01": 500})
    monkeypatch.setenv("GENESIS_ROOT", str(files_root))
    on_files = _run_jobs()

    monkeypatch.setenv("GENESIS_ROOT", str(pg_root))
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    assert main(["import", str(files_root)]) == 0
    on_postgres = _run_jobs()

    for job, report in on_files.items():
        assert _comparable(on_postgres[job]) == _comparable(report), job
    with psycopg.connect(pg_url) as conn:  # the PostgreSQL runs kept their state there, not in files
        assert conn.execute("SELECT reader FROM job_checkpoints ORDER BY reader").fetchall() == [
            ("business-summary",), ("ledger-sync",), ("monitor-alerts",), ("stale-payments",), ("weekly-report",)]
        assert conn.execute("SELECT count(*) FROM alert_state").fetchone()[0] > 0
        # the files run's summary (imported) and the PostgreSQL run's own
        assert conn.execute("SELECT count(*) FROM spend_summaries").fetchone()[0] == 2
    assert not (pg_root / "data/a2a-x402/state/checkpoints").exists()
    assert not (pg_root / "data/a2a-x402/transactions").exists()
    counts = on_files["ledger-sync"]["counts"]
    assert {k: v for k, v in counts.items() if v} == {"missing_in_ledger": 1, "amount_mismatch": 1,
                                                      "duplicate_entry": 1, "missing_in_transactions": 1,
                                                      "invalid_transition": 1}
    assert on_files["stale-payments"]["counts"] == {"stale_authorization": 1, "expired_authorization": 1,
                                                    "stale_settlement": 1, "invalid_transition": 1}
    assert on_files["monitor-alerts"]["counts"]["failure_streak"] == 1
    assert on_files["weekly-report"]["totals"]["spend_usd"] == "4.250001"  # all of it 1 to 2 days old
    assert on_files["business-summary"]["summary"]["total_spent_usd"] == "1.250001"
    assert on_files["ledger-sync again"]["scan"] == "incremental" == on_postgres["ledger-sync again"]["scan"]


def test_export_gives_back_the_imported_files_byte_for_byte_and_audit_verify_passes(pg_url, tmp_path, monkeypatch,
                                                                                      capsys):
    source, exported = tmp_path / "source", tmp_path / "exported"
    dataset(source)
    (source / LEDGER_FILES[3]).write_bytes(encode_line({
        "business_id": "biz-week", "ts": ago(1), "total_spent_usd": "0.000000", "approved_intents": 0,
        "denied_intents": 0, "pending_review": 0, "by_vendor": {}, "by_agent": {}, "by_component": {}}))
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    monkeypatch.setattr(transfer, "IMPORT_BLOCK", 8192)  # many blocks, each COPYed on its own
    assert main(["import", str(source), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["import", str(source), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["loaded"]["transactions.jsonl"] == first["records"]["transactions.jsonl"] > 400
    assert set(second["loaded"].values()) == {0}, "a second import loads nothing"
    assert main(["export", str(exported)]) == 0
    for name in LEDGER_FILES:
        assert (exported / name).read_bytes() == (source / name).read_bytes(), name
    monkeypatch.delenv("GENESIS_DATABASE_URL")
    assert main(["--root", str(exported), "audit", "verify"]) == 0
    assert main(["export", str(exported)]) != 0  # never over a root that holds ledgers


def test_import_refuses_a_bad_line_or_a_broken_chain_and_loads_nothing(pg_url, tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    dataset(source)
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    ledger = source / LEDGER_FILES[1]
    ledger.write_bytes(ledger.read_bytes() + b'{"entry_id": "torn"\n')
    lines = ledger.read_bytes().count(b"\n")
    assert main(["import", str(source)]) == 1
    assert f"finance_ledger.jsonl line {lines}:" in capsys.readouterr().err
    ledger.write_bytes(ledger.read_bytes().rsplit(b"\n", 2)[0] + b"\n")
    chain = source / LEDGER_FILES[2]
    chain.write_bytes(chain.read_bytes().replace(b'"denied"', b'"approved"'))
    assert main(["import", str(source)]) == 1
    assert "approval_log.jsonl line 3:" in capsys.readouterr().err
    assert BusinessMonitor(Settings()).read_events().records == []
    assert FinanceLedger(Settings()).read_entries().records == []
