"""business-summary: the spend of one generated business, kept, posted to the dashboard, reported.

Runs on the Prefect event `genesis.business.generated` (its deployment trigger passes the event's
`payload.business_id` as `business_id`) or by hand with a business id.
"""

from __future__ import annotations

import sys

from prefect import flow

from genesis_payments.core.timestamps import utc_now
from genesis_payments.jobs.reports import JobReport
from genesis_payments.jobs.spend_summary import build_spend_summary
from genesis_payments.ledgers.payment_states import fold_events
from tasks.business_summary import (
    append_spend_summary,
    post_spend_summary,
    publish_summary_report,
    read_payment_event_records,
)
from tasks.ledgers import read_approval_decisions
from tasks.runtime_settings import load_runtime_settings


@flow(name="business-summary")
def business_summary(business_id: str) -> dict:
    """Summarise one business's captured spend and intents; keep it, post it, report it."""
    settings = load_runtime_settings().require_ready()
    report = JobReport(job="business-summary", started_at=utc_now())
    events = read_payment_event_records(settings)
    decisions = read_approval_decisions(settings)
    states = fold_events(events.numbered())
    summary = build_spend_summary(business_id, states, decisions.records)
    append_spend_summary(summary, settings)
    report.dashboard_posts = post_spend_summary(summary, settings)  # a dashboard post, not an alert
    report.bad_lines = [bad.to_dict() for bad in events.bad_lines + decisions.bad_lines]
    report.summary = summary.to_json_dict()
    report.findings = [t.finding() for t in states.invalid]
    report.counts = {"invalid_transition": len(report.findings)}
    publish_summary_report(report, summary, settings)
    return report.to_json_dict()


if __name__ == "__main__":
    business_summary(sys.argv[1])
