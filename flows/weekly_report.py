"""Weekly (Mondays): last 7 complete UTC days against the 7 before, to the dashboard with a chart."""

from __future__ import annotations

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.jobs.job_messages import weekly_message
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reports import JobReport
from genesis_payments.jobs.weekly import spend_chart_png
from genesis_payments.notify.discord import Attachment
from tasks.checkpoints import read_weekly_totals, save_checkpoint
from tasks.reports import publish_chart
from tasks.runtime_settings import load_runtime_settings

JOB = "weekly-report"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")
CHART = "spend-by-day.png"


@flow(name=JOB)
def weekly_report(full: bool = False) -> dict:
    """Spend by agent, vendor and day, approvals and denials, failures, top vendors, change in %.

    The windows are sums of the per-day aggregates kept in the checkpoint, brought up to date with
    what both logs gained since the last run (`full`: both logs read again)."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    run = read_weekly_totals(settings, report.started_at, full)
    totals = run.totals
    report = job_report(report, (), [], run.bad_lines, invalid_transitions=run.invalid_transitions, totals=totals,
                        **run.run_info())
    chart = Attachment(CHART, spend_chart_png(totals), "image/png")
    publish_chart(chart.content, f"{JOB}-chart", f"{JOB}: spend by day, {totals['window_start'][:10]} onwards")
    post = Message(f"{JOB}-{totals['window_start'][:10]}", "posted", "dashboard", weekly_message(totals, CHART),
                   files=(chart,))
    result = deliver(report, settings, [post])
    save_checkpoint(settings, run)  # only after the run succeeded
    return result


if __name__ == "__main__":
    weekly_report()
