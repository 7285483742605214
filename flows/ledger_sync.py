"""Nightly: reconcile every captured payment against the finance ledger, both ways, to the micro-USDC."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.job_messages import ledger_sync_alert, ledger_sync_summary
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reconciliation import LEDGER_SYNC_KINDS
from genesis_payments.jobs.reports import JobReport
from tasks.checkpoints import read_ledger_sync, save_checkpoint
from tasks.runtime_settings import load_runtime_settings

JOB = "ledger-sync"


@flow(name=JOB)
def ledger_sync(full: bool = False) -> dict:
    """Captured payments vs finance debits net of refunds; recent activity waits for the next run.

    Reads only what both ledgers gained since the last run's checkpoint (`full`: both again)."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    run = read_ledger_sync(settings, report.started_at, full)
    result, bad_lines = run.result, run.bad_lines
    report = job_report(report, LEDGER_SYNC_KINDS, result.findings, bad_lines,
                        invalid_transitions=result.invalid_transitions, checked=result.checked, **run.run_info())
    day = report.started_at.date().isoformat()
    summary = ledger_sync_summary(result.counts, result.checked, len(bad_lines))
    messages = [Message(f"{JOB}-summary-{day}", fingerprint(result.findings), "dashboard", summary)]
    if not result.findings:
        outcome = deliver(report, settings, messages, resolved=[JOB])
    else:
        alert = ledger_sync_alert(result.counts, result.findings)
        outcome = deliver(report, settings, [*messages, Message(JOB, fingerprint(result.findings), "alerts", alert)])
    save_checkpoint(settings, run)  # only after the run succeeded
    return outcome


if __name__ == "__main__":
    ledger_sync()
