"""The payment ledgers on either store (§12): the same records, order, rules and checkpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.ledger_sync_checkpoint import run_ledger_sync
from genesis_payments.jobs.stale_checkpoint import run_stale_payments
from genesis_payments.ledgers.frames import finance_entries_frame, payment_events_frame
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.ledgers.sources import payment_event_follower
from tests.support.ledgers import T0, at, entry, event


def _history(settings: Settings) -> None:
    monitor, ledger = BusinessMonitor(settings), FinanceLedger(settings)
    for record in [event("p1", "authorized", at(0)), event("p1", "captured", at(1)),
                   event("p2", "authorized", at(2), amount="0.000001"), event("p3", "authorized", at(3)),
                   event("p3", "captured", at(4)), event("p3", "captured", at(5)),  # an invalid transition
                   event("p4", "authorized", at(6), valid_before=at(8))]:
        monitor.log_payment(record)
    for record in [entry("p1"), entry("p3", amount="9"), entry("p9")]:
        ledger.record(record)


def test_events_and_entries_read_back_as_written_in_order(store, settings):
    _history(settings)
    events = BusinessMonitor(settings).read_events()
    assert events.bad_lines == []
    assert [(e.payment_id, e.status) for e in events.records][:3] == [
        ("p1", "authorized"), ("p1", "captured"), ("p2", "authorized")]
    frame = payment_events_frame(settings).frame
    assert frame["line"].tolist() == list(range(1, 8))
    assert frame.loc[2, "amount_micro"] == 1
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame.loc[6, "valid_before"] == frame.loc[6, "ts"] + timedelta(minutes=2)
    entries = finance_entries_frame(settings, columns=("payment_id", "amount_micro", "kind")).frame
    assert entries["amount_micro"].tolist() == [10_000_000, 9_000_000, 10_000_000]


def test_jobs_from_their_checkpoint_agree_with_a_full_rescan(store, settings):
    _history(settings)
    now = T0 + timedelta(hours=2)
    first = run_ledger_sync(settings, now)
    stale = run_stale_payments(settings, now)
    assert first.scan == "full" and {f["kind"] for f in first.result.findings} == {
        "missing_in_transactions", "amount_mismatch"}
    assert [t["line"] for t in first.result.invalid_transitions] == [6]
    BusinessMonitor(settings).log_payment(event("p2", "captured", at(7), amount="0.000001"))
    FinanceLedger(settings).record(entry("p2", amount="0.000001"))
    again, full = run_ledger_sync(settings, now), run_ledger_sync(settings, now, full=True, save=False)
    assert again.scan == "incremental" and again.lines_read == 2
    assert again.result.findings == full.result.findings
    assert again.result.invalid_transitions == full.result.invalid_transitions
    later = run_stale_payments(settings, now)
    assert later.scan == "incremental"
    assert later.findings == run_stale_payments(settings, now, full=True, save=False).findings
    assert [f["payment_id"] for f in stale.findings] == ["p2", "p4"]
    assert [f["payment_id"] for f in later.findings] == ["p4"]


def test_a_replayed_record_is_stored_once_and_another_under_its_id_is_refused(pg_url, monkeypatch, settings):
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    settings = Settings()
    monitor = BusinessMonitor(settings)
    record = monitor.log_payment(event("p1", "authorized", at(0)))
    monitor.log_payment(record)  # a retry after a lost answer: the same event again
    assert len(monitor.read_events().records) == 1
    with pytest.raises(LedgerError, match="already recorded with other content"):
        monitor.log_payment({**record.to_json_dict(), "amount_usd": "11"})
    assert [e.amount_usd for e in monitor.read_events().records] == [record.amount_usd]


def test_an_emptied_and_reloaded_table_is_rescanned(pg_url, monkeypatch):
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    settings = Settings()
    _history(settings)
    run_stale_payments(settings, T0)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:  # history rewritten by hand, around the triggers
        conn.execute("ALTER TABLE payment_events DISABLE TRIGGER USER")
        conn.execute("DELETE FROM payment_events WHERE payment_id = 'p1'")
    run = run_stale_payments(settings, T0)
    assert run.scan == "full" and "deleted" in run.rescan_reason


def test_a_follower_reads_each_appended_event_once_on_either_store(store, settings):
    follower = payment_event_follower(settings)
    quiet = follower.probe()
    monitor = BusinessMonitor(settings)
    monitor.log_payment(event("p1", "authorized", at(0)))
    assert follower.probe() != quiet
    first, reset = follower.read_new()
    assert [e.status for e in first.records] == ["authorized"] and not reset
    monitor.log_payment(event("p1", "captured", at(1)))
    second, reset = follower.read_new()
    assert [e.status for e in second.records] == ["captured"] and not reset
    assert follower.read_new()[0].records == []


def test_job_state_lives_in_the_database_on_postgres(pg_url, monkeypatch):
    from genesis_payments.jobs.alert_state import alert_state_for
    from genesis_payments.postgres.job_state import PgCheckpoints

    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    settings = Settings()
    checkpoints = PgCheckpoints(settings)
    assert checkpoints.load_document("ledger-sync-chain") is None
    checkpoints.save_document("ledger-sync-chain", {"block_number": 7})
    checkpoints.save_document("ledger-sync-chain", {"block_number": 9})
    assert checkpoints.load_document("ledger-sync-chain") == {"block_number": 9}
    now = [T0]
    state = alert_state_for(settings, 3600, clock=lambda: now[0])
    assert state.due("stale-payments", "f1")
    state.mark_sent("stale-payments", "f1")
    assert not state.due("stale-payments", "f1") and state.due("stale-payments", "f2")
    now[0] = T0 + timedelta(hours=1)
    assert state.due("stale-payments", "f1")  # the cooldown is over
    state.clear("stale-payments")
    assert state.due("stale-payments", "f1")
    assert not (settings.state_dir / "alerts").exists()


def test_the_decisions_payments_rely_on_are_found_on_either_store(store, settings):
    from genesis_payments.ledgers.audit import referenced_decisions_of

    digest = "ab" * 32
    BusinessMonitor(settings).log_payment(event("p0", "authorized", at(0)))
    BusinessMonitor(settings).log_payment(event("p1", "authorized", at(1), decision_hash=digest))
    BusinessMonitor(settings).log_payment(event("p1", "captured", at(2), decision_hash=digest))
    assert referenced_decisions_of(settings) == {digest: {"payment_id": "p1", "line": 2, "decision_hash": digest}}


def _login_as(pg_url: str, role: str, group: str) -> str:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DO $$ BEGIN CREATE ROLE {role} LOGIN IN ROLE {group}; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    return pg_url.replace("postgresql://postgres@", f"postgresql://{role}@")


def test_a_jobs_host_runs_the_jobs_and_cannot_write_a_ledger(pg_url, monkeypatch):
    from genesis_payments.jobs.alert_state import alert_state_for

    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    _history(Settings())
    monkeypatch.setenv("GENESIS_DATABASE_URL", _login_as(pg_url, "test_jobs_host", "genesis_jobs"))
    settings = Settings()
    run_ledger_sync(settings, T0)
    assert run_ledger_sync(settings, T0).scan == "incremental"
    state = alert_state_for(settings, 60)
    state.mark_sent("ledger-sync", "f")
    state.clear("ledger-sync")
    assert state.due("ledger-sync", "f")
    with pytest.raises(LedgerError, match=r"permission denied for table payment_events.*nothing was written"):
        BusinessMonitor(settings).log_payment(event("p9", "authorized", at(9)))


def test_a_buyer_host_appends_payments_and_keeps_authorizations_but_no_job_state(pg_url, monkeypatch):
    from genesis_payments.payments.store import AuthorizationStore

    monkeypatch.setenv("GENESIS_DATABASE_URL", _login_as(pg_url, "test_buyer_host", "genesis_agent"))
    settings = Settings()
    BusinessMonitor(settings).log_payment(event("p1", "authorized", at(0)))
    FinanceLedger(settings).record(entry("p1"))
    store = AuthorizationStore(settings)
    record = {"payment_id": "pay_" + "c" * 32, "intent_id": "i", "idempotency_key": "k", "status": "authorized",
              "payload": {"signature": "0x00"}}
    store.save(record)
    store.save({**record, "status": "captured"})
    with store.locked("intent:i"):
        assert store.load(record["payment_id"])["status"] == "captured"
    with pytest.raises(LedgerError, match="permission denied for table job_checkpoints"):
        run_stale_payments(settings, T0)  # its checkpoint is the jobs' to write


def test_readers_of_both_logs_and_the_exporter_go_on_from_their_checkpoints_on_either_store(store, settings):
    """monitor-alerts, weekly-report, business-summary and the exporter: a run after more was appended
    reads only that, and says what a full read says (on PostgreSQL the marks are `seq`s)."""
    from genesis_payments.exporter.metrics import PaymentsCollector
    from genesis_payments.jobs.business_checkpoint import run_business_summary
    from genesis_payments.jobs.monitor_checkpoint import read_monitor_events
    from genesis_payments.jobs.weekly_checkpoint import run_weekly
    from tests.support.payments import approve, make_intent

    now = T0 + timedelta(hours=2)
    _history(settings)
    approve(settings, make_intent(intent_id="i1", business_id="biz-1"))

    def scrape() -> dict:
        collector = PaymentsCollector(settings, balance_source=lambda: {}, clock=lambda: now)
        collector.checkpoint_in_background, collector.checkpoint_every = False, 1
        found = {(s.name, tuple(sorted(s.labels.items()))): s.value for family in collector.collect()
                 for s in family.samples if s.name != "genesis_exporter_collect_duration_seconds"}
        return {"start": collector.start_report["scan"], "samples": found}

    runs = {"monitor": lambda **kw: read_monitor_events(settings, **kw),
            "weekly": lambda **kw: run_weekly(settings, now, **kw),
            "business": lambda **kw: run_business_summary(settings, "biz-1", now=now, **kw)}
    first = {name: run() for name, run in runs.items()}
    assert {run.scan for run in first.values()} == {"full"}
    assert scrape()["start"] == "full"
    for n in range(3):
        BusinessMonitor(settings).log_payment(event(f"f{n}", "failed", at(10 + n), vendor="flaky"))
    BusinessMonitor(settings).log_payment(event("p9", "authorized", at(20), business_id="biz-1", intent_id="i1"))
    BusinessMonitor(settings).log_payment(event("p9", "captured", at(21), business_id="biz-1", intent_id="i1"))
    approve(settings, make_intent(intent_id="i2", business_id="biz-1"), "denied")
    again = {name: run() for name, run in runs.items()}
    full = {name: run(full=True, save=False) for name, run in runs.items()}
    assert {run.scan for run in again.values()} == {"incremental"}
    assert again["monitor"].lines_read == 5 and again["weekly"].lines_read == 6
    assert again["monitor"].streaks == full["monitor"].streaks and again["monitor"].streaks["flaky"] == 3
    assert again["monitor"].invalid_transitions == full["monitor"].invalid_transitions
    assert again["weekly"].totals == full["weekly"].totals
    assert again["business"].summary.model_dump(exclude={"summary_id", "ts"}) == \
        full["business"].summary.model_dump(exclude={"summary_id", "ts"})
    warm = scrape()
    assert warm["start"] == "incremental"
    for name, _ in runs.items():  # nothing of the checkpoints went to the files on PostgreSQL
        assert (settings.state_dir / "checkpoints" / f"{name}.arrow").exists() is False
    from genesis_payments.ledgers.checkpoints import checkpoint_store

    store_kind = type(checkpoint_store(settings)).__name__
    assert store_kind == ("PgCheckpoints" if settings.uses_postgres else "FileCheckpoints")
    cold = PaymentsCollector(settings, balance_source=lambda: {}, clock=lambda: now, full=True)
    assert warm["samples"] == {(s.name, tuple(sorted(s.labels.items()))): s.value for family in cold.collect()
                               for s in family.samples if s.name != "genesis_exporter_collect_duration_seconds"}


@pytest.mark.slow
def test_a_job_whose_database_crashed_under_it_retries_and_completes(pg_cluster, pg_url, flow_env, monkeypatch):
    """The server crashes (`pg_ctl restart -m immediate`) between two runs: every connection this
    process holds is dead, the next run's first read fails, its task is retried on a new one."""
    from flows.ledger_sync import ledger_sync
    from flows.stale_payments import stale_payments

    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    monkeypatch.setenv("GENESIS_CHAIN_RECONCILIATION", "false")
    _history(Settings())
    before = {"stale": stale_payments(full=True), "sync": ledger_sync(full=True)}
    pg_cluster.cluster.restart(mode="immediate")
    after = {"stale": stale_payments(), "sync": ledger_sync()}  # each first reads its checkpoint
    for job in before:
        assert after[job]["counts"] == before[job]["counts"] and sum(after[job]["counts"].values()) > 0


def test_a_dead_connection_reaching_the_command_line_is_a_one_line_error_and_is_retried():
    """`psycopg.OperationalError` unwrapped (a cached connection whose server went away) is reported
    like the store's own failures (exit 1, what to do, nothing secret) and counts as transient."""
    import psycopg

    from genesis_payments.cli.main import describe_failure
    from tasks.retry import retry_transient

    dead = psycopg.OperationalError("server closed the connection unexpectedly (password=hunter2)")
    code, message = describe_failure(dead)
    assert code == 1 and message.startswith("PostgreSQL failed") and "check the server, then retry" in message
    assert "hunter2" not in message

    class Failed:
        def result(self):
            raise dead

    assert retry_transient(None, None, Failed()) is True
