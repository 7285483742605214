"""Assemble a job's §5 report from its findings: every kind counted (zeros included)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from genesis_payments.jobs.reports import JobReport
from genesis_payments.ledgers.jsonl import BadLine

INVALID_TRANSITION = "invalid_transition"


def job_report(
    report: JobReport, kinds: Sequence[str], findings: list[dict[str, Any]], bad_lines: Iterable[BadLine],
    invalid_transitions: list[dict[str, Any]] | None = None, **extra: Any,
) -> JobReport:
    """`report` with `counts` for every kind of the job, its findings and bad lines, and extra fields.

    A job that reads payment events passes the state machine's `invalid_transitions` (§4/§5: every
    such job reports them); they are findings of their own kind, counted like the others.
    """
    counts = {kind: 0 for kind in kinds}
    if invalid_transitions is not None:
        counts[INVALID_TRANSITION] = 0
        findings = [*findings, *invalid_transitions]
    for finding in findings:
        counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
    return report.model_copy(update={
        "counts": counts,
        "findings": findings,
        "bad_lines": [b.to_dict() for b in bad_lines],
        **extra,
    })
