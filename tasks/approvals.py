"""Prefect tasks of the approval workflow: each one step on the approval log through GenesisMetaAgent."""

from __future__ import annotations

from typing import Any

from prefect import task

from genesis_payments.approvals.meta_agent import GenesisMetaAgent, ReviewError
from genesis_payments.approvals.review_request import review_request_markdown
from genesis_payments.core.records import ApprovalDecision
from tasks.retry import IO_TASK_OPTIONS
from tasks.runtime_settings import load_runtime_settings


def meta_agent() -> GenesisMetaAgent:
    return GenesisMetaAgent(load_runtime_settings())


@task(name="decide-intent", **IO_TASK_OPTIONS)
def decide_intent(intent: dict[str, Any], flow_run_id: str | None = None) -> ApprovalDecision:
    """Decide one intent (idempotent per intent id, so a retry cannot decide it twice)."""
    annotations = {"flow_run_id": flow_run_id} if flow_run_id else None
    return meta_agent().approve_payment_intent(intent, annotations=annotations)


@task(name="review-timeout-seconds")
def review_timeout_seconds() -> int:
    return meta_agent().policy.review_timeout_seconds


@task(name="describe-review")
def describe_review(decision: ApprovalDecision, timeout_seconds: int) -> str:
    return review_request_markdown(decision, timeout_seconds)


@task(name="record-review", **IO_TASK_OPTIONS)
def record_review(intent_id: str, approve: bool, reviewer: str, note: str | None = None) -> ApprovalDecision:
    """Append the reviewer's answer; if someone answered first (CLI), their decision stands."""
    agent = meta_agent()
    try:
        return agent.resolve_review(intent_id, approve=approve, by=reviewer, note=note)
    except ReviewError:
        latest = agent.latest_decision(intent_id)
        if latest is None:
            raise
        return latest


@task(name="record-review-timeout", **IO_TASK_OPTIONS)
def record_review_timeout(intent_id: str) -> ApprovalDecision:
    """Nobody answered in time: the intent is denied (unless a person answered meanwhile)."""
    return meta_agent().deny_unanswered(intent_id)

