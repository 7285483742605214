"""Tasks of the business-summary flow: keep the summary, post it, publish it (the read: `tasks.checkpoints`)."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.records import SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.reports import JobReport, write_report
from genesis_payments.jobs.spend_summary import spend_summary_markdown, spend_summary_table
from genesis_payments.ledgers.sources import spend_summaries
from genesis_payments.notify.discord import GenesisDiscord
from tasks.retry import IO_TASK_OPTIONS


@task(name="append-spend-summary", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def append_spend_summary(summary: SpendSummary, settings: Settings) -> None:
    spend_summaries(settings).append(summary)


@task(name="post-spend-summary", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def post_spend_summary(summary: SpendSummary, settings: Settings) -> int:
    """Dashboard channel; the Discord client handles 429/5xx itself, this retries what is left."""
    GenesisDiscord(settings).payment_business_summary(summary)
    return 1


@task(name="publish-summary-report", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def publish_summary_report(report: JobReport, summary: SpendSummary, settings: Settings) -> Path:
    create_markdown_artifact(markdown=spend_summary_markdown(summary), key="business-summary",
                             description=f"Spend summary of {summary.business_id}")
    create_table_artifact(table=spend_summary_table(summary), key="business-summary-breakdown",
                          description=f"Captured spend of {summary.business_id} by vendor, agent and component")
    return write_report(settings.reports_dir, report)
