"""Budget use from the approval and transaction logs (disk: retried), and the once-per-period alert state."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_payments.approvals.budget_usage import SpendFollower, budget_threshold_findings
from genesis_payments.approvals.policy import load_policy
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.budget_alerts import mark_threshold_alerts_sent, new_threshold_findings
from tasks.retry import IO_TASK_OPTIONS


@task(name="read-budget-thresholds", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_budget_thresholds(settings: Settings) -> list[dict[str, Any]]:
    """`budget_threshold` findings: budgets at 80 % or 100 % of their limit in the current day or month."""
    return budget_threshold_findings(SpendFollower(settings).usage(load_policy(settings)))


@task(name="new-budget-thresholds", cache_policy=NO_CACHE)
def new_budget_thresholds(settings: Settings, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The thresholds not alerted yet in their period."""
    return new_threshold_findings(settings, findings)


@task(name="remember-budget-alerts", cache_policy=NO_CACHE)
def remember_budget_alerts(settings: Settings, findings: list[dict[str, Any]]) -> None:
    mark_threshold_alerts_sent(settings, findings)
