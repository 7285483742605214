"""The approve-intent flow: a pending_review intent pauses the run until a person answers, or times out."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from genesis_payments.approvals import meta_agent
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.ledgers.audit import verify_chain
from tests.support.approvals import FakeVendors, intent


@pytest.fixture(autouse=True)
def fake_vendor_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda settings: FakeVendors())


def _run_in_thread(**params: Any) -> tuple[threading.Thread, dict[str, Any]]:
    from flows.approve_intent import approve_intent

    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = approve_intent(**params)
        except BaseException as exc:  # surfaced by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _wait_for_paused_run(settings, intent_id: str, deadline: float = 30.0) -> str:
    """The flow_run_id recorded on the pending decision, once that run is Paused."""
    from prefect import get_client

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        decision = ApprovalLog(settings).latest_decision(intent_id)
        if decision is not None and decision.decision == "pending_review":
            run_id = decision.model_extra["flow_run_id"]
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(run_id).state
            if state is not None and state.is_paused():
                return run_id
        time.sleep(0.1)
    raise AssertionError("the flow run never paused for review")


def test_paused_review_resumed_with_approve_appends_approved_with_resolved_by(flow_env, settings) -> None:
    from prefect.flow_runs import resume_flow_run

    big = intent("40")
    thread, out = _run_in_thread(intent=big, review_timeout_seconds_override=60, poll_interval_seconds=1)
    run_id = _wait_for_paused_run(settings, big["intent_id"])
    resume_flow_run(run_id, run_input={"approve": True, "reviewer": "alice"})
    thread.join(30)
    assert "error" not in out, out.get("error")
    result = out["result"]
    assert result["decision"] == "approved"
    assert result["resolved_by"] == "alice"
    decisions = [d for d in ApprovalLog(settings).read().records if d.intent_id == big["intent_id"]]
    assert [d.decision for d in decisions] == ["pending_review", "approved"]
    assert verify_chain(settings.approval_log_path).ok


def test_review_without_answer_times_out_to_denied(flow_env, settings) -> None:
    big = intent("40")
    thread, out = _run_in_thread(intent=big, review_timeout_seconds_override=1, poll_interval_seconds=1)
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"]["decision"] == "denied"
    assert out["result"]["resolved_by"] == meta_agent.TIMEOUT_REVIEWER
    assert ApprovalLog(settings).latest_decision(big["intent_id"]).decision == "denied"


def test_small_intent_is_decided_without_pausing(flow_env, settings) -> None:
    from flows.approve_intent import approve_intent

    assert approve_intent(intent=intent("2"))["decision"] == "approved"


def test_cli_review_of_a_paused_run_records_once_and_resumes_the_run(flow_env, settings, capsys) -> None:
    from genesis_payments.cli.main import main

    big = intent("40")
    thread, out = _run_in_thread(intent=big, review_timeout_seconds_override=60, poll_interval_seconds=1)
    _wait_for_paused_run(settings, big["intent_id"])
    assert main(["review", "deny", big["intent_id"], "--by", "dave"]) == 0
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert (out["result"]["decision"], out["result"]["resolved_by"]) == ("denied", "dave")
    decisions = [d.decision for d in ApprovalLog(settings).read().records if d.intent_id == big["intent_id"]]
    assert decisions == ["pending_review", "denied"]


def test_cli_review_resumes_a_run_opened_for_a_review_that_was_already_waiting(flow_env, settings) -> None:
    """serve opens runs for reviews decided elsewhere (the demo's): the decision names no run, the CLI finds it."""
    from prefect import get_client

    from genesis_payments.approvals.meta_agent import GenesisMetaAgent
    from genesis_payments.cli.main import main

    big = intent("40")
    assert GenesisMetaAgent(settings).approve_payment_intent(big).decision == "pending_review"
    thread, out = _run_in_thread(intent=big, review_timeout_seconds_override=120, poll_interval_seconds=1)
    end = time.monotonic() + 30
    paused = False
    while not paused and time.monotonic() < end:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
        paused = any(r.state and r.state.is_paused()
                     and (r.parameters.get("intent") or {}).get("intent_id") == big["intent_id"] for r in runs)
        time.sleep(0.2)
    assert paused, "the run never paused"
    assert main(["review", "approve", big["intent_id"], "--by", "erin"]) == 0
    thread.join(30)
    assert not thread.is_alive(), "the run was not resumed"
    assert (out["result"]["decision"], out["result"]["resolved_by"]) == ("approved", "erin")
