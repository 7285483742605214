"""Hourly: alert on payments stuck after authorization (stale, expired) or stuck settling."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.job_messages import stale_alert
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reports import JobReport
from genesis_payments.jobs.stale import STALE_KINDS
from tasks.checkpoints import read_stale_payments, save_checkpoint
from tasks.runtime_settings import load_runtime_settings

JOB = "stale-payments"


@flow(name=JOB)
def stale_payments(full: bool = False) -> dict:
    """Payments still authorized after 15 minutes or past valid_before; settlements pending too long.

    Reads only what was appended since the last run's checkpoint (`full`: the whole log again)."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    run = read_stale_payments(settings, report.started_at, full)
    findings = run.findings
    report = job_report(report, STALE_KINDS, findings, run.bad_lines, invalid_transitions=run.invalid_transitions,
                        **run.run_info())
    if not findings:
        result = deliver(report, settings, [], resolved=[JOB])
    else:
        result = deliver(report, settings, [Message(JOB, fingerprint(findings), "alerts", stale_alert(findings))])
    save_checkpoint(settings, run)  # only after the run succeeded
    return result


if __name__ == "__main__":
    stale_payments()
