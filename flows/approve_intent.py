"""approve-intent: decide one payment intent; a big one waits here for a person.

The meta agent decides the intent against the policy and appends the decision. An intent above
the review threshold comes back `pending_review`: this flow run then pauses and the Prefect UI
shows an approve/deny form with the intent's details. The answer (or, `genesis-payments review`
on the command line) is appended as a decision with `resolved_by`; no answer before the review
timeout appends `denied`.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow, runtime
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from tasks.approvals import decide_intent, describe_review, record_review, record_review_timeout, review_timeout_seconds


class ReviewAnswer(RunInput):
    """The form a reviewer fills in on the paused run (the UI shows each field's title and description)."""

    approve: bool = Field(False, title="Approve", description="On: the payment may go ahead. Off: it is denied.")
    reviewer: str = Field(title="Reviewer", description="Your name; kept on the decision as `resolved_by`.")
    # A plain string (empty when not given): an optional type would make the UI ask for a type first.
    note: str = Field("", title="Note", description="Why; kept on the decision.")


@flow(name="approve-intent")
def approve_intent(
    intent: dict[str, Any],
    review_timeout_seconds_override: int | None = None,
    poll_interval_seconds: int = 10,
) -> dict[str, Any]:
    """Decide `intent`; wait for a person when the policy asks for review. Returns the final decision."""
    decision = decide_intent(intent, flow_run_id=str(runtime.flow_run.id))
    if decision.decision != "pending_review":
        return decision.to_json_dict()
    timeout = review_timeout_seconds_override or review_timeout_seconds()
    form = ReviewAnswer.with_initial_data(description=describe_review(decision, timeout), approve=False)
    try:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=timeout,
            poll_interval=poll_interval_seconds,
            key=f"review-{decision.intent_id}",
        )
    except FlowPauseTimeout:
        return record_review_timeout(decision.intent_id).to_json_dict()
    return record_review(decision.intent_id, answer.approve, answer.reviewer, answer.note or None).to_json_dict()


if __name__ == "__main__":
    import json

    print(json.dumps(approve_intent(json.loads(sys.stdin.read()))))
