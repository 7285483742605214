"""Every job by name (§5) → the flow that runs it, as "module:function" (imported on demand)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

JOBS: dict[str, str] = {
    "monitor-alerts": "flows.monitor_alerts:monitor_alerts",
    "stale-payments": "flows.stale_payments:stale_payments",
    "ledger-sync": "flows.ledger_sync:ledger_sync",
    "weekly-report": "flows.weekly_report:weekly_report",
    "business-summary": "flows.business_summary:business_summary",
}

# Parameters a job needs from the command line (`run business-summary --business-id B`).
JOB_PARAMETERS: dict[str, tuple[str, ...]] = {"business-summary": ("business_id",)}
# Jobs that keep a checkpoint (§5) and take `--full` (a rescan of the whole log).
CHECKPOINTED_JOBS: frozenset[str] = frozenset({"stale-payments", "ledger-sync", "monitor-alerts",
                                                "weekly-report", "business-summary"})


def load_flow(job: str) -> Callable[..., Any]:
    """The flow object of `job`; KeyError naming the known jobs when there is none."""
    try:
        module_name, function = JOBS[job].split(":")
    except KeyError:
        raise KeyError(f"unknown job {job!r}; known jobs: {', '.join(sorted(JOBS))}") from None
    return getattr(importlib.import_module(module_name), function)
