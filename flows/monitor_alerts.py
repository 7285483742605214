"""Hourly: alert when a wallet drops below 50 USDC, a vendor fails 5 or more times in a row, or a
budget reaches 80 % or 100 % of its limit (once per threshold per period)."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.core.money import format_usd
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.budget_alerts import budget_alert
from genesis_payments.jobs.job_messages import monitor_alert
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.monitoring import MONITOR_KINDS, low_balance_findings
from genesis_payments.jobs.reports import JobReport
from tasks.budgets import new_budget_thresholds, read_budget_thresholds, remember_budget_alerts
from tasks.checkpoints import read_monitor_payment_events, save_checkpoint
from tasks.ledgers import read_wallet_balances
from tasks.runtime_settings import load_runtime_settings

JOB = "monitor-alerts"


@flow(name=JOB)
def monitor_alerts(full: bool = False) -> dict:
    """Wallet balances per agent below the threshold; vendors on a failure streak, in time order.

    The transaction log is read from the last run's checkpoint on (`full`: the whole log again)."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    balances = read_wallet_balances(settings)
    events = read_monitor_payment_events(settings, full)
    findings = low_balance_findings(balances, settings.low_balance_usd) + events.streak_findings(
        settings.failure_streak)
    budgets = read_budget_thresholds(settings)
    report = job_report(report, MONITOR_KINDS, findings + budgets, events.bad_lines,
                        invalid_transitions=events.invalid_transitions, agents_checked=len(balances),
                        **events.run_info())
    messages = []
    if findings:
        alert = monitor_alert(findings, format_usd(settings.low_balance_usd), settings.failure_streak)
        messages.append(Message(JOB, fingerprint(findings), "alerts", alert))
    news = new_budget_thresholds(settings, budgets)
    if news:
        keys = fingerprint([{"kind": str(sorted((f["key"], f["period_start"], f["percent"]) for f in news))}])
        messages.append(Message(f"{JOB}-budgets", keys, "alerts", budget_alert(news)))
    delivered = deliver(report, settings, messages, resolved=[] if findings else [JOB])
    remember_budget_alerts(settings, news)  # after delivery: a failed send is tried again next run
    save_checkpoint(settings, events)  # only after the run succeeded
    return delivered


if __name__ == "__main__":
    monitor_alerts()
