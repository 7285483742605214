"""business-summary: the spend of one generated business, kept, posted to the dashboard, reported.

Runs on the Prefect event `genesis.business.generated` (its deployment trigger passes the event's
`payload.business_id` as `business_id`) or by hand with a business id. The summary comes from the
book kept in the job's checkpoint, brought up to date with what both logs gained (`full`: both
logs read again).
"""

from __future__ import annotations

import sys

from prefect import flow

from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reports import JobReport
from tasks.business_summary import append_spend_summary, post_spend_summary, publish_summary_report
from tasks.checkpoints import read_business_summary, save_checkpoint
from tasks.runtime_settings import load_runtime_settings

JOB = "business-summary"


@flow(name=JOB)
def business_summary(business_id: str, full: bool = False) -> dict:
    """Summarise one business's captured spend and intents; keep it, post it, report it."""
    settings = load_runtime_settings().require_ready()
    report = JobReport(job=JOB)
    run = read_business_summary(settings, business_id, report.started_at, full)
    summary = run.summary
    append_spend_summary(summary, settings)
    report = job_report(report, (), [], run.bad_lines, invalid_transitions=run.invalid_transitions,
                        summary=summary.to_json_dict(), **run.run_info())
    report.dashboard_posts = post_spend_summary(summary, settings)  # a dashboard post, not an alert
    publish_summary_report(report, summary, settings)
    save_checkpoint(settings, run)  # only after the run succeeded
    return report.to_json_dict()


if __name__ == "__main__":
    business_summary(sys.argv[1])
