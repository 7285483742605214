"""The JSON report every job run writes (§5), and where it goes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genesis_payments.core.files import write_json_atomic
from genesis_payments.core.timestamps import UtcTimestamp, utc_now


class JobReport(BaseModel):
    """`job`, `started_at`, `finished_at`, `counts`, `findings`, `bad_lines`, `alerts_sent` (§5)."""

    model_config = ConfigDict(extra="allow")

    job: str
    started_at: UtcTimestamp = Field(default_factory=utc_now)
    finished_at: UtcTimestamp | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    bad_lines: list[dict[str, Any]] = Field(default_factory=list)
    alerts_sent: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def report_path(reports_dir: Path, job: str, when: datetime) -> Path:
    return Path(reports_dir) / job / f"{when.strftime('%Y%m%dT%H%M%S.%fZ')}.json"


def write_report(reports_dir: Path, report: JobReport) -> Path:
    """Write the report atomically to `reports/<job>/<UTC timestamp>.json`; return its path."""
    if report.finished_at is None:
        report.finished_at = utc_now()
    path = report_path(reports_dir, report.job, report.finished_at)
    write_json_atomic(path, report.to_json_dict())
    return path
