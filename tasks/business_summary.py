"""Tasks of the business-summary job: read the logs, keep the summary, post it, report it."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from genesis_payments.approval_log import ApprovalLog
from genesis_payments.discord import GenesisDiscord
from genesis_payments.jsonl import JsonlAppender, ReadResult
from genesis_payments.ledgers import BusinessMonitor
from genesis_payments.records import ApprovalDecision, PaymentEvent, SpendSummary
from genesis_payments.reports import JobReport, write_report
from genesis_payments.settings import Settings
from genesis_payments.spend_summary import spend_summary_markdown, spend_summary_table
from tasks.retry import IO_RETRIES, IO_RETRY_JITTER, io_retry_delays, retry_on_io_error

_io = dict(
    retries=IO_RETRIES,
    retry_delay_seconds=io_retry_delays(IO_RETRIES),
    retry_jitter_factor=IO_RETRY_JITTER,
    retry_condition_fn=retry_on_io_error,
)


@task(name="read-payment-events", **_io)
def read_payment_events() -> ReadResult[PaymentEvent]:
    return BusinessMonitor(Settings()).read_events()


@task(name="read-approval-decisions", **_io)
def read_approval_decisions() -> ReadResult[ApprovalDecision]:
    return ApprovalLog(Settings()).read()


@task(name="append-spend-summary", **_io)
def append_spend_summary(summary: SpendSummary) -> None:
    settings = Settings()
    JsonlAppender(settings.spend_summaries_path, fsync=settings.fsync).append(summary)


@task(name="post-spend-summary", retries=3, retry_delay_seconds=io_retry_delays(3), retry_jitter_factor=0.5)
def post_spend_summary(summary: SpendSummary) -> int:
    """Dashboard channel; the Discord client does its own 429/5xx handling, this retries what is left."""
    GenesisDiscord(Settings()).payment_business_summary(summary)
    return 1


@task(name="publish-summary-report", **_io)
def publish_summary_report(report: JobReport, summary: SpendSummary) -> Path:
    create_markdown_artifact(markdown=spend_summary_markdown(summary), key="business-summary",
                             description=f"Spend summary of {summary.business_id}")
    create_table_artifact(table=spend_summary_table(summary), key="business-summary-breakdown",
                          description=f"Captured spend of {summary.business_id} by vendor, agent and component")
    return write_report(Settings().reports_dir, report)
