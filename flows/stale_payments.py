"""Hourly: alert on payments stuck after authorization (stale, expired) or stuck settling."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.job_messages import stale_alert
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reports import JobReport
from genesis_payments.jobs.stale import STALE_KINDS, stale_payment_findings
from genesis_payments.ledgers.payment_states import fold_frame
from tasks.ledgers import read_payment_events
from tasks.runtime_settings import load_runtime_settings

JOB = "stale-payments"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "valid_before", "line")


@flow(name=JOB)
def stale_payments() -> dict:
    """Payments still authorized after 15 minutes or past valid_before; settlements pending too long."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    events = read_payment_events(settings, columns=COLUMNS)
    states = fold_frame(events.frame)
    findings = stale_payment_findings(events.frame, now=report.started_at,
                                      stale_after_seconds=settings.stale_after_seconds, fold=states)
    report = job_report(report, STALE_KINDS, findings, events.bad_lines, invalid_transitions=states.findings())
    if not findings:
        return deliver(report, settings, [], resolved=[JOB])
    return deliver(report, settings, [Message(JOB, fingerprint(findings), "alerts", stale_alert(findings))])


if __name__ == "__main__":
    stale_payments()
