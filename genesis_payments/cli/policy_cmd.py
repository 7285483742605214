"""`genesis-payments policy show`: the effective policy (defaults filled in) and its hash."""

from __future__ import annotations

import argparse
import json

from genesis_payments.approvals.policy import load_policy
from genesis_payments.approvals.policy_changes import effective_settings
from genesis_payments.cli.config_cmd import load_settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("policy", help="the approval policy")
    actions = parser.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the effective policy and its hash")
    show.add_argument("--json", action="store_true", help="one JSON object: hash, source, policy")
    show.set_defaults(handler=run_show)


def run_show(args: argparse.Namespace) -> int:
    policy = load_policy(load_settings())
    settings = effective_settings(policy)
    if args.json:
        print(json.dumps({"hash": policy.hash, "source": policy.source, "policy": settings}, sort_keys=True))
        return 0
    print(f"policy {policy.hash} (from {policy.source})")
    print(json.dumps(settings, indent=2, sort_keys=True))
    return 0
