"""`genesis-payments status`: every part an operator needs, each failing on its own."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from genesis_payments.approvals.halts import halt
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.cli.main import main
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer
from genesis_payments.jobs.reports import JobReport, write_report
from genesis_payments.payments.wallets import FakeWallets
from tests.support.approvals import FakeVendors, intent
from tests.support.ledgers import event, write_lines

NONE = {"daily": None, "monthly": None}
POLICY = {"review_threshold_usd": "20", "max_intent_usd": None,
          "budgets": {"agent": {"default": {"daily": "10", "monthly": None}, "overrides": {"big": {"daily": None}}},
                      "vendor": {"default": NONE},
                      "business": {"default": NONE}}}


@pytest.fixture
def planted(settings):
    settings.effective_policy_path.parent.mkdir(parents=True)
    settings.effective_policy_path.write_text(json.dumps(POLICY))
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    agent.approve_payment_intent(intent("6", agent="busy"))              # 60 % of its day
    agent.approve_payment_intent(intent("2", agent="quiet"))             # 20 %: not shown
    agent.approve_payment_intent(intent("30", agent="big", intent_id="wants-review"))  # pending review
    halt(settings, "agent", "busy", reason="looping", by="ops-bo")
    FakeWallets(settings.fake_wallets_path).set_balances({"busy": Decimal("12.5")})
    stuck = utc_now().replace(microsecond=0)
    write_lines(settings.transactions_path, [
        event("p-stuck", "authorized", format_utc(stuck)), event("p-stuck", "settlement_pending", format_utc(stuck)),
        event("p-done", "authorized", format_utc(stuck)), event("p-done", "captured", format_utc(stuck)),
    ])
    report = JobReport(job="ledger-sync", counts={"amount_mismatch": 1, "duplicate_entry": 0},
                       findings=[{"kind": "amount_mismatch"}])
    write_report(settings.reports_dir, report)
    write_report(settings.reports_dir, JobReport(job="monitor-alerts", error="Discord refused the message"))
    return settings


def test_status_json_shows_every_planted_problem(planted, capsys) -> None:
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    jobs = {run["job"]: run for run in status["jobs"]["value"]}
    assert jobs["ledger-sync"]["state"] == "Completed" and jobs["ledger-sync"]["counts"] == {"amount_mismatch": 1}
    assert jobs["monitor-alerts"]["state"] == "Failed" and "Discord" in jobs["monitor-alerts"]["error"]
    assert jobs["weekly-report"]["state"] == "never run"
    [held] = status["halts"]["value"]
    assert (held["scope"], held["key"], held["by"], held["reason"]) == ("agent", "busy", "ops-bo", "looping")
    assert [(b["key"], b["period"], b["percent_used"]) for b in status["budgets"]["value"]] == [("busy", "day", 60)]
    assert status["wallets"]["value"] == {"busy": "12.500000"}
    assert [r["intent_id"] for r in status["pending_reviews"]["value"]] == ["wants-review"]
    assert [p["payment_id"] for p in status["settlement_pending"]["value"]] == ["p-stuck"]
    assert status["exporter"]["value"]["up"] is False


def test_status_screen_renders_tables(planted, capsys) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    for text in ("Jobs (last run)", "amount_mismatch 1", "Halts in force", "looping", "Budgets over 50 % used",
                 "Wallets (USDC)", "12.500000", "Pending reviews", "wants-review", "settlement_pending", "p-stuck",
                 "Exporter", "down"):
        assert text in out, text


def test_a_broken_wallet_source_shows_unavailable_and_the_rest(planted, capsys) -> None:
    planted.fake_wallets_path.write_text("{not json")
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["wallets"]["available"] is False and status["wallets"]["error"]
    assert status["halts"]["available"] and status["pending_reviews"]["available"]
    assert main(["status"]) == 0
    assert "Wallets (USDC): unavailable" in capsys.readouterr().out


def test_a_running_exporter_is_seen_up(planted, monkeypatch, capsys) -> None:
    with ExporterServer(PaymentsCollector(planted), "127.0.0.1", 0) as server:
        monkeypatch.setenv("GENESIS_EXPORTER_PORT", str(server.port))
        assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exporter"]["value"]["up"] is True


def test_status_of_an_empty_root(settings, capsys) -> None:
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["halts"]["value"] == [] and status["budgets"]["value"] == []
    assert not settings.approval_log_path.exists()  # a read creates nothing
