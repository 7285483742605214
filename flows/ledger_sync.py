"""Nightly: reconcile every captured payment against the finance ledger, both ways, to the micro-USDC."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.job_messages import ledger_sync_alert, ledger_sync_summary
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reconciliation import (
    ENTRY_COLUMNS_NEEDED,
    EVENT_COLUMNS_NEEDED,
    LEDGER_SYNC_KINDS,
    reconcile,
)
from genesis_payments.jobs.reports import JobReport
from tasks.ledgers import read_finance_entries, read_payment_events
from tasks.runtime_settings import load_runtime_settings

JOB = "ledger-sync"


@flow(name=JOB)
def ledger_sync() -> dict:
    """Captured payments vs finance debits net of refunds; recent activity waits for the next run."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    events = read_payment_events(settings, columns=EVENT_COLUMNS_NEEDED)
    entries = read_finance_entries(settings, columns=ENTRY_COLUMNS_NEEDED)
    result = reconcile(events.frame, entries.frame, now=report.started_at,
                       grace_seconds=settings.ledger_sync_grace_seconds)
    bad_lines = events.bad_lines + entries.bad_lines
    report = job_report(report, LEDGER_SYNC_KINDS, result.findings, bad_lines,
                        invalid_transitions=result.invalid_transitions, checked=result.checked)
    day = report.started_at.date().isoformat()
    summary = ledger_sync_summary(result.counts, result.checked, len(bad_lines))
    messages = [Message(f"{JOB}-summary-{day}", fingerprint(result.findings), "dashboard", summary)]
    if not result.findings:
        return deliver(report, settings, messages, resolved=[JOB])
    alert = ledger_sync_alert(result.counts, result.findings)
    return deliver(report, settings, [*messages, Message(JOB, fingerprint(result.findings), "alerts", alert)])


if __name__ == "__main__":
    ledger_sync()
