"""At `serve` start, every payment waiting for a person gets a paused approve-intent run in the UI.

A fresh demo leaves one; a serve that stopped leaves its paused runs cancelled while their reviews
still wait in the approval log. Each such review gets a new run, paused with its form for what is
left of its review window, unless a run for it is still waiting or on its way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.records import ApprovalDecision, PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.core.wording import counted

INTENT_FIELDS = tuple(PaymentIntent.model_fields)


def open_pending_reviews(settings: Settings, deployment_name: str, log: Callable[[str], None]) -> list[str]:
    """Start an approve-intent run (it pauses) for each waiting review without one; their UI addresses."""
    agent = GenesisMetaAgent(settings)
    waiting = agent.pending_reviews()
    if not waiting:
        return []
    already = _intents_with_an_active_run(deployment_name)
    window = agent.policy.review_timeout_seconds
    addresses = []
    for decision in waiting:
        if decision.intent_id in already:
            continue
        left = window - int((datetime.now(UTC) - decision.ts).total_seconds())
        addresses.append(open_review(intent_of(decision), deployment_name, max(left, 1), log))
    if len(waiting) > 1:
        log(f"{counted(len(waiting), 'payment')} waiting for a person: Runs → the Paused approve-intent runs")
    return addresses


def intent_of(decision: ApprovalDecision) -> PaymentIntent:
    """The intent a decision was made on (its fields are on the decision, extras included)."""
    data = decision.to_json_dict()
    return PaymentIntent.model_validate({name: data[name] for name in INTENT_FIELDS if data.get(name) is not None})


def open_review(intent: PaymentIntent, deployment_name: str, timeout_seconds: int, log: Callable[[str], None]) -> str:
    """Start an approve-intent run for `intent`; it pauses with its form. Returns the run's UI address."""
    from prefect.deployments import run_deployment
    from prefect.utilities.urls import url_for

    run = run_deployment(
        deployment_name,
        parameters={"intent": intent.to_json_dict(), "review_timeout_seconds_override": timeout_seconds},
        timeout=0,
        as_subflow=False,
    )
    address = url_for(run)
    log(f"review waiting for a person: intent {intent.intent_id} ({intent.cost_usd} USDC) — open {address} "
        "and press Resume (or `genesis-payments review list`)")
    return address


def _intents_with_an_active_run(deployment_name: str) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    active = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment_name).id
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=active))),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        )
    return {str(run.parameters.get("intent", {}).get("intent_id")) for run in runs}
