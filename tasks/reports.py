"""Publish a job's result: the JSON report file of §5 and a Prefect artifact (disk: retried)."""

from __future__ import annotations

import base64
from typing import Any

from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.job_messages import report_markdown
from genesis_payments.jobs.reports import JobReport, write_report
from tasks.retry import IO_TASK_OPTIONS

MAX_TABLE_ROWS = 1000


@task(name="publish-report", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def publish_report(report: JobReport, settings: Settings) -> str:
    """Write `reports/<job>/<timestamp>.json` and the run's table and markdown artifacts; return the path."""
    path = write_report(settings.reports_dir, report)
    data = report.to_json_dict()
    key = report.job.lower()
    create_markdown_artifact(markdown=redact(report_markdown(data)), key=f"{key}-summary",
                             description=f"{report.job}: summary of the run")
    create_table_artifact(table=_table(data), key=f"{key}-findings", description=f"{report.job}: findings")
    return str(path)


@task(name="publish-chart", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def publish_chart(png: bytes, key: str, description: str) -> None:
    """The chart as an image artifact the run page and the Artifacts page show.

    The image travels inside the artifact as a `data:` URI: the UI puts an image artifact's URL
    straight into an `<img>`, and the server then needs no file store the browser could reach.
    """
    create_image_artifact(image_url="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
                          key=key, description=description)


def _table(report: dict[str, Any]) -> list[dict[str, Any]]:
    if report.get("findings"):
        rows = report["findings"][:MAX_TABLE_ROWS]
        columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "kind", k))
        return [{c: row.get(c) for c in columns} for row in rows]
    totals = report.get("totals")
    if totals:
        return [{"day": day, "spend_usd": amount} for day, amount in totals["by_day"].items()]
    counts = [{"kind": kind, "count": count} for kind, count in report.get("counts", {}).items()]
    return counts or [{"result": "nothing"}]
