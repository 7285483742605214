"""The four scheduled jobs as Prefect flow runs: reports, artifacts, alerts once, failures that say why."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.payments.fakes.fake_keys import fund_fake_wallets
from tests.support.fake_discord import FakeDiscord
from tests.support.ledgers import entry, event, write_lines


def ago(minutes: float) -> str:
    return format_utc(utc_now() - timedelta(minutes=minutes))


def reports(settings: Settings, job: str) -> list[dict]:
    folder = settings.reports_dir / job
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def outbox(settings: Settings) -> list[dict]:
    path = settings.outbox_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_ledger_sync_reports_exactly_the_planted_problems_and_alerts_once(flow_env, monkeypatch):
    from flows.ledger_sync import ledger_sync

    monkeypatch.setenv("GENESIS_CHAIN_RECONCILIATION", "false")  # the finance side alone (the chain: test_chain_sync)
    settings = Settings()
    write_lines(settings.transactions_path, [
        event("ok", "authorized", ago(60)), event("ok", "captured", ago(59)),
        event("lost", "authorized", ago(60)), event("lost", "captured", ago(59), "2.5"),
        "garbage\n",
    ])
    write_lines(settings.finance_ledger_path, [entry("ok", ts=ago(58)), entry("ghost", "1", ts=ago(58))])
    result = ledger_sync()
    assert result["counts"] == {"missing_in_ledger": 1, "missing_in_transactions": 1, "duplicate_entry": 0,
                                "debit_without_capture": 0, "amount_mismatch": 0, "invalid_transition": 0,
                                "chain_missing": 0, "chain_amount_mismatch": 0, "unrecorded_transfer": 0}
    assert {f["payment_id"]: f["kind"] for f in result["findings"]} == {
        "lost": "missing_in_ledger", "ghost": "missing_in_transactions"}
    assert [(b["line"], b["file"].endswith("transactions.jsonl")) for b in result["bad_lines"]] == [(5, True)]
    assert result["alerts_sent"] == 2
    assert reports(settings, "ledger-sync") == [result]
    assert [m["channel"] for m in outbox(settings)] == ["dashboard", "alerts"]

    again = ledger_sync()
    assert again["alerts_sent"] == 0 and again["counts"] == result["counts"]
    assert len(outbox(settings)) == 2 and len(reports(settings, "ledger-sync")) == 2


def test_monitor_alerts_finds_low_wallets_and_streaks_and_survives_bad_input(flow_env, local_chain):
    from flows.monitor_alerts import monitor_alerts

    settings = Settings()
    fund_fake_wallets(settings, {"poor": Decimal("49.99"), "rich": Decimal(500)})
    lines = [event(f"p{i}", "failed", ago(50 - i), vendor="flaky") for i in range(5)]
    lines += [event(f"r{i}", "failed", ago(50), vendor="recovered") for i in range(5)]
    lines += [event("r5", status, ago(2), vendor="recovered") for status in ("authorized", "captured")]
    lines += ['{"event_id": "naive", "ts": "2026-11-26T03:00:00"}\n', b"\xff\xfe\n"]
    write_lines(settings.transactions_path, lines)
    result = monitor_alerts()
    assert result["counts"] == {"low_balance": 1, "failure_streak": 1, "budget_threshold": 0, "invalid_transition": 0}
    assert {f["kind"]: f for f in result["findings"]}["failure_streak"] == {
        "kind": "failure_streak", "vendor": "flaky", "streak": 5}
    assert len(result["bad_lines"]) == 2 and result["alerts_sent"] == 1
    [message] = outbox(settings)
    assert message["channel"] == "alerts" and message["payload"]["allowed_mentions"] == {"parse": []}


def test_jobs_complete_on_missing_and_empty_files(flow_env):
    from flows.ledger_sync import ledger_sync
    from flows.monitor_alerts import monitor_alerts
    from flows.stale_payments import stale_payments
    from flows.weekly_report import weekly_report

    settings = Settings()
    assert monitor_alerts()["counts"] == {"low_balance": 0, "failure_streak": 0, "budget_threshold": 0,
                                          "invalid_transition": 0}
    write_lines(settings.transactions_path, [])
    write_lines(settings.finance_ledger_path, [])
    write_lines(settings.approval_log_path, [])
    assert sum(ledger_sync()["counts"].values()) == 0
    assert stale_payments()["findings"] == []
    assert weekly_report()["totals"]["spend_usd"] == "0.000000"


def test_stale_payments_names_each_payment_and_what_to_do(flow_env):
    from flows.stale_payments import stale_payments

    settings = Settings()
    write_lines(settings.transactions_path, [
        event("stuck", "authorized", ago(20), "3"),
        event("expired", "authorized", ago(20), "4", valid_before=ago(5)),
        event("fresh", "authorized", ago(1)),
    ])
    result = stale_payments()
    assert result["counts"] == {"stale_authorization": 1, "expired_authorization": 1, "stale_settlement": 0,
                                "invalid_transition": 0}
    [message] = outbox(settings)
    text = message["payload"]["embeds"][0]["description"]
    assert "`stuck`" in text and "genesis-payments payments capture ID" in text


def test_weekly_report_posts_totals_with_a_png_chart(flow_env):
    from flows.weekly_report import weekly_report

    settings = Settings()
    write_lines(settings.transactions_path, [event("w", "authorized", ago(26 * 60), "12.5"),
                                             event("w", "captured", ago(26 * 60), "12.5")])
    result = weekly_report()
    assert result["totals"]["spend_usd"] == "12.500000" and result["findings"] == []
    [message] = outbox(settings)
    assert message["channel"] == "dashboard"
    assert message["payload"]["embeds"][0]["image"] == {"url": "attachment://spend-by-day.png"}
    png = (settings.root / message["attachments"][0]["path"]).read_bytes()
    assert png.startswith(b"\x89PNG")


def test_weekly_report_shows_the_same_chart_as_an_image_artifact_in_the_ui(flow_env):
    import base64

    from prefect.artifacts import Artifact

    from flows.weekly_report import weekly_report

    settings = Settings()
    write_lines(settings.transactions_path, [event("w", "captured", ago(26 * 60), "12.5")])
    weekly_report()
    [message] = outbox(settings)
    png = (settings.root / message["attachments"][0]["path"]).read_bytes()
    artifact = Artifact.get("weekly-report-chart")
    assert artifact.type == "image"
    assert artifact.data == "data:image/png;base64," + base64.b64encode(png).decode("ascii")


QS_SECRET = "?thread_id=7&token=qs-secret-token&apiKey=qs-secret-token"


@pytest.fixture
def live_discord(flow_env, monkeypatch):
    with FakeDiscord() as server:
        monkeypatch.setenv("PAYMENTS_USE_FAKE", "false")
        # Query-string credentials too (§1): masked like the webhook path itself.
        monkeypatch.setenv("GENESIS_DISCORD_ALERTS_WEBHOOK_URL", server.webhook_url("alerts") + QS_SECRET)
        monkeypatch.setenv("GENESIS_DISCORD_DASHBOARD_WEBHOOK_URL", server.webhook_url("dashboard") + QS_SECRET)
        monkeypatch.setenv("GENESIS_DISCORD_BACKOFF_SECONDS", "0.01")
        write_lines(Settings().transactions_path, [event("stuck", "authorized", ago(20))])
        yield server


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "secret-token" not in text and "/webhooks/100" not in text


def test_live_429_waits_and_delivers(live_discord, caplog, capfd):
    from flows.stale_payments import stale_payments

    caplog.set_level(logging.DEBUG)
    live_discord.fail_next(429, retry_after=0.2)
    result = stale_payments()
    assert result["alerts_sent"] == 1 and len(live_discord.messages) == 1
    assert live_discord.requests == 2
    assert_no_secret(caplog.text, "".join(capfd.readouterr()), json.dumps(result))


def test_live_500_twice_then_200_delivers_one_message(live_discord, caplog, capfd):
    from flows.stale_payments import stale_payments

    caplog.set_level(logging.DEBUG)
    live_discord.fail_next(500, times=2)
    stale_payments()
    assert len(live_discord.messages) == 1
    assert_no_secret(caplog.text, "".join(capfd.readouterr()))


def test_live_404_fails_the_flow_run_with_a_clear_message_and_no_url(live_discord, caplog, capfd):
    from prefect.artifacts import Artifact

    from flows.stale_payments import stale_payments

    caplog.set_level(logging.DEBUG)
    live_discord.fail_next(404, times=None)
    state = stale_payments(return_state=True)
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "HTTP 404" in message and "alerts" in message
    assert live_discord.requests == 1  # a refused webhook is not retried
    [report] = reports(Settings(), "stale-payments")
    assert "HTTP 404" in report["error"] and report["alerts_sent"] == 0
    artifact = Artifact.get("stale-payments-summary")
    assert_no_secret(message, caplog.text, "".join(capfd.readouterr()), json.dumps(report), str(artifact.data),
                     prefect_database_text())


def prefect_database_text() -> str:
    """Every byte the Prefect server stored (states, messages, artifacts), WAL included, as text."""
    from pathlib import Path

    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    database = Path(str(getattr(url, "get_secret_value", lambda: url)()).split("///", 1)[1])
    files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    text = "".join(p.read_bytes().decode("latin-1") for p in files)
    assert "HTTP 404" in text, f"the failed run's message is not in {database}: wrong database?"
    return text


def test_run_command_prints_the_report_alone_as_json(flow_env, capsys):
    from genesis_payments.cli.main import main

    assert main(["run", "stale-payments", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == reports(Settings(), "stale-payments")[0]
    assert main(["run", "no-such-job"]) == 1


def test_a_failed_run_with_json_prints_its_report_with_state_and_reason(live_discord, monkeypatch, capsys):
    from genesis_payments.cli.main import main

    monkeypatch.setenv("GENESIS_FACILITATOR_URL", "http://127.0.0.1:9/?apikey=qs-secret-token")
    monkeypatch.setenv("GENESIS_WALLET_PRIVATE_KEY", "0x" + "11" * 32)
    monkeypatch.setenv("GENESIS_RPC_URL", "http://127.0.0.1:9/")
    live_discord.fail_next(404, times=None)
    assert main(["run", "stale-payments", "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["job"] == "stale-payments" and report["state"] == "Failed"
    assert "HTTP 404" in report["error"] and report["counts"]  # the run's own report, findings and all
    assert "HTTP 404" in err
    assert_no_secret(out, err)


def test_registry_names_each_flow_by_its_job():
    from flows.registry import JOBS, load_flow

    for job in JOBS:
        assert load_flow(job).name == job
    with pytest.raises(KeyError, match="known jobs"):
        load_flow("nope")


def test_stale_payments_goes_on_from_its_checkpoint_and_says_which_kind_of_run(flow_env):
    from flows.stale_payments import stale_payments

    settings = Settings()
    write_lines(settings.transactions_path, [event("stuck", "authorized", ago(20), "3")])
    first = stale_payments()
    assert (first["scan"], first["lines_read"]) == ("full", 1)
    with open(settings.transactions_path, "a") as handle:
        handle.write(json.dumps(event("late", "authorized", ago(30))) + "\n")
    second = stale_payments()
    assert (second["scan"], second["lines_read"], second["rescan_reason"]) == ("incremental", 1, None)
    assert [f["payment_id"] for f in second["findings"]] == ["late", "stuck"]
    again = stale_payments(full=True)
    assert (again["scan"], again["lines_read"]) == ("full", 2)

    def without_age(findings):  # each run is at its own moment: ages differ by the seconds between
        return [{k: v for k, v in f.items() if k != "age_seconds"} for f in findings]

    assert without_age(again["findings"]) == without_age(second["findings"])
