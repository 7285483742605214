"""Weekly (Mondays): last 7 complete UTC days against the 7 before, to the dashboard with a chart."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.job_messages import weekly_message
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reports import JobReport
from genesis_payments.jobs.weekly import decisions_frame, spend_chart_png, weekly_totals
from genesis_payments.ledgers.payment_states import fold_frame
from genesis_payments.notify.discord import Attachment
from tasks.ledgers import read_approval_decisions, read_payment_events
from tasks.reports import publish_chart
from tasks.runtime_settings import load_runtime_settings

JOB = "weekly-report"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")
CHART = "spend-by-day.png"


@flow(name=JOB)
def weekly_report() -> dict:
    """Spend by agent, vendor and day, approvals and denials, failures, top vendors, change in %."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    events = read_payment_events(settings, columns=COLUMNS)
    decisions = read_approval_decisions(settings)
    states = fold_frame(events.frame)
    totals = weekly_totals(events.frame, decisions_frame(decisions.records), now=report.started_at,
                           days=settings.weekly_days, fold=states)
    report = job_report(report, (), [], events.bad_lines + decisions.bad_lines,
                        invalid_transitions=states.findings(), totals=totals)
    chart = Attachment(CHART, spend_chart_png(totals), "image/png")
    publish_chart(chart.content, f"{JOB}-chart", f"{JOB}: spend by day, {totals['window_start'][:10]} onwards")
    post = Message(f"{JOB}-{totals['window_start'][:10]}", "posted", "dashboard", weekly_message(totals, CHART),
                   files=(chart,))
    return deliver(report, settings, [post])


if __name__ == "__main__":
    weekly_report()
