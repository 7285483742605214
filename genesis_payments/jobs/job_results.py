"""Assemble a job's §5 report from its findings: every kind counted (zeros included)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from genesis_payments.jobs.reports import JobReport
from genesis_payments.ledgers.jsonl import BadLine


def job_report(
    report: JobReport, kinds: Sequence[str], findings: list[dict[str, Any]], bad_lines: Iterable[BadLine],
    **extra: Any,
) -> JobReport:
    """`report` with `counts` for every kind of the job, its findings and bad lines, and extra fields."""
    counts = {kind: 0 for kind in kinds}
    for finding in findings:
        counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
    return report.model_copy(update={
        "counts": counts,
        "findings": findings,
        "bad_lines": [b.to_dict() for b in bad_lines],
        **extra,
    })
