"""The common end of every job: send its messages, publish its report, fail if it could not tell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genesis_payments.core.errors import JobFailed
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.reports import JobReport
from genesis_payments.notify.discord import Attachment
from tasks.discord import clear_alert, send_alert
from tasks.reports import publish_report


@dataclass
class Message:
    key: str  # what the alert is about, e.g. "monitor-alerts"
    fingerprint: str  # what it says; a new fingerprint is news
    channel: str
    payload: dict[str, Any]
    files: Sequence[Attachment] = field(default_factory=tuple)


def deliver(report: JobReport, settings: Settings, messages: Sequence[Message], resolved: Sequence[str] = ()) -> dict:
    """Send each message, forget resolved alerts, write the report; raise JobFailed if a send failed."""
    problems = []
    for message in messages:
        state = send_alert(settings, message.key, message.fingerprint, message.channel, message.payload,
                           message.files, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if state.is_completed():
            report.alerts_sent += int(outcome)
        else:
            problems.append(redact(str(outcome)) if isinstance(outcome, BaseException) else redact(state.message or ""))
    for key in resolved:
        clear_alert(settings, key)
    if problems:
        report = report.model_copy(update={"error": "; ".join(problems)})
    publish_report(report, settings)
    if problems:
        raise JobFailed(f"{report.job}: " + "; ".join(problems))
    return report.to_json_dict()
