"""`genesis-payments review list | approve ID | deny ID`: a person resolves `pending_review` decisions.

ID is the intent id or the id of its `pending_review` decision. The answer is appended to the
approval log as a new decision with `resolved_by` (`--by`, default the OS user). When the decision
was asked for by a paused Prefect flow run, that run is resumed with the same answer.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.cli.arguments import id_argument
from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.jsonl import canonical_json


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("review", help="list and resolve decisions waiting for a person")
    actions = parser.add_subparsers(dest="review_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="decisions waiting for review")
    listing.add_argument("--json", action="store_true", help="one decision per line as JSON")
    listing.set_defaults(handler=run_list)
    for verb in ("approve", "deny"):
        action = actions.add_parser(verb, help=f"{verb} a pending intent")
        action.add_argument("id", type=id_argument, help="intent id or decision id")
        action.add_argument("--by", default=None, help="reviewer name (default: the OS user)")
        action.add_argument("--note", default=None, help="a note kept in the decision's reasons")
        action.set_defaults(handler=run_resolve, approve=verb == "approve")


def make_agent() -> GenesisMetaAgent:
    return GenesisMetaAgent(load_settings())


def run_list(args: argparse.Namespace) -> int:
    agent = make_agent()
    pending = agent.read_pending_reviews()  # a read: the log is never opened for appending here
    timeout = agent.policy.review_timeout_seconds
    if args.json:
        for decision in pending:
            print(canonical_json(decision.to_json_dict()))
        return 0
    if not pending:
        print("no decisions waiting for review")
        return 0
    now = utc_now()
    for decision in pending:
        left = int(timeout - (now - decision.ts).total_seconds())
        print(
            f"{decision.intent_id}  decision {decision.decision_id}  {decision.cost_usd} USDC  "
            f"agent {decision.agent} → {decision.vendor}  business {decision.business_id}  "
            f"{max(left, 0)}s left"
        )
    return 0


def run_resolve(args: argparse.Namespace) -> int:
    by = args.by or default_reviewer()
    decision = make_agent().resolve_review(args.id, approve=args.approve, by=by, note=args.note)
    print(canonical_json(decision.to_json_dict()))
    _resume_waiting_flow(decision, by)
    return 0


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _resume_waiting_flow(decision: ApprovalDecision, by: str) -> None:
    """Best effort: a Prefect run paused on this review learns the answer now, not at its timeout.

    The run that asked for the review is named on the decision; a run `serve` opened later for a
    review already waiting (the demo's, or one left by a stopped serve) is found by its intent.
    """
    from prefect.settings import get_current_settings

    asked_by = (decision.model_extra or {}).get("flow_run_id")
    if not asked_by and not get_current_settings().api.url:
        return  # no server configured: no run can be waiting, and none is started to look
    from prefect.flow_runs import resume_flow_run

    run_ids = {asked_by} if asked_by else set()
    try:
        run_ids |= _paused_review_runs(decision.intent_id)
    except Exception as exc:  # e.g. the server is down: the runs will find the decision when they wake
        print(f"genesis-payments: note: could not look for paused review runs: {json.dumps(str(exc))}",
              file=sys.stderr)
    for flow_run_id in sorted(run_ids):
        try:
            resume_flow_run(flow_run_id, run_input={"approve": decision.decision == "approved", "reviewer": by})
        except Exception as exc:  # the decision is already recorded; the run will find it when it wakes
            print(f"genesis-payments: note: could not resume flow run {flow_run_id}: {json.dumps(str(exc))}",
                  file=sys.stderr)


def _paused_review_runs(intent_id: str) -> set[str]:
    """Ids of the paused `approve-intent` runs deciding `intent_id`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["approve-intent"])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))),
        )
    return {str(run.id) for run in runs if (run.parameters.get("intent") or {}).get("intent_id") == intent_id}
