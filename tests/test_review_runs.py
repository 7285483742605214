"""At serve start, each payment waiting for a person gets one approve-intent run, for what is left of its window."""

from __future__ import annotations

import pytest

from genesis_payments.approvals import meta_agent
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from tests.support.approvals import FakeVendors, intent


@pytest.fixture(autouse=True)
def fake_vendor_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda settings: FakeVendors())


def _runs_of(deployment_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def test_a_waiting_review_gets_one_run_with_the_rest_of_its_window_and_no_second_one(flow_env, settings) -> None:
    from deployments.review_runs import open_pending_reviews
    from flows.approve_intent import approve_intent

    agent = GenesisMetaAgent(settings)
    big, small = intent("40"), intent("1")
    assert agent.approve_payment_intent(big).decision == "pending_review"
    assert agent.approve_payment_intent(small).decision == "approved"
    deployment_id = approve_intent.to_deployment(name="review-runs-test").apply()
    name = "approve-intent/review-runs-test"
    said: list[str] = []

    [address] = open_pending_reviews(settings, name, said.append)
    assert open_pending_reviews(settings, name, said.append) == []  # its run is still on its way
    [run] = _runs_of(deployment_id)
    assert run.parameters["intent"]["intent_id"] == big["intent_id"]
    window = agent.policy.review_timeout_seconds
    assert window - 60 < run.parameters["review_timeout_seconds_override"] <= window
    assert address.endswith(f"/runs/flow-run/{run.id}")
    assert said == [f"review waiting for a person: intent {big['intent_id']} (40.000000 USDC) — open {address} "
                    "and press Resume (or `genesis-payments review list`)"]
