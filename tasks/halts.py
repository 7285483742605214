"""Prefect task for the kill switch: record a halt or a resume in the approval log's chain."""

from __future__ import annotations

from prefect import get_run_logger, task

from genesis_payments.approvals.halts import halt, resume
from genesis_payments.core.settings import Settings


# No retries: a halt recorded once and retried would fail as "already halted".
@task(name="record-halt")
def record_halt(settings: Settings, action: str, scope: str, key: str | None, reason: str | None,
                by: str) -> dict:
    """Append the halt (or resume) and return it as a dict."""
    if action == "halt":
        held = halt(settings, scope, key, reason=reason or "", by=by)
        get_run_logger().warning("halted %s: %s", held.target, held.describe())
    else:
        held = resume(settings, scope, key, by=by, reason=reason)
        get_run_logger().warning("resumed %s (lifted %s)", held.target, held.describe())
    return {"action": action, **held.to_dict()}
