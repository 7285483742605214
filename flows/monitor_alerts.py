"""Hourly: alert when a wallet drops below 50 USDC or a vendor fails 5 or more times in a row."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.core.money import format_usd
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.job_messages import monitor_alert
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.monitoring import MONITOR_KINDS, failure_streak_findings, low_balance_findings
from genesis_payments.jobs.reports import JobReport
from genesis_payments.ledgers.payment_states import fold_frame
from tasks.ledgers import read_payment_events, read_wallet_balances
from tasks.runtime_settings import load_runtime_settings

JOB = "monitor-alerts"


@flow(name=JOB)
def monitor_alerts() -> dict:
    """Wallet balances per agent below the threshold; vendors on a failure streak, in time order."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    balances = read_wallet_balances(settings)
    events = read_payment_events(settings, columns=("payment_id", "vendor", "status", "ts", "line"))
    states = fold_frame(events.frame)
    findings = low_balance_findings(balances, settings.low_balance_usd) + failure_streak_findings(
        events.frame, settings.failure_streak, fold=states)
    report = job_report(report, MONITOR_KINDS, findings, events.bad_lines, invalid_transitions=states.findings(),
                        agents_checked=len(balances))
    if not findings:
        return deliver(report, settings, [], resolved=[JOB])
    alert = monitor_alert(findings, format_usd(settings.low_balance_usd), settings.failure_streak)
    return deliver(report, settings, [Message(JOB, fingerprint(findings), "alerts", alert)])


if __name__ == "__main__":
    monitor_alerts()
