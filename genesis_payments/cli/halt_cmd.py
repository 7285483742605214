"""`genesis-payments halt` / `resume` (§8, §10): the kill switch, recorded in the approval log's chain.

    genesis-payments halt --all | --agent A | --vendor V --reason R --by NAME
    genesis-payments resume --all | --agent A | --vendor V --by NAME [--reason R]

A halt denies every new intent in its scope and refuses every capture in it, in every process,
from the next decision on; `resume` lifts the halt of exactly that scope.
"""

from __future__ import annotations

import argparse
import json

from genesis_payments.approvals.halts import HaltError, halt, resume
from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    for verb, text in (("halt", "stop new intents and captures of everything, one agent or one vendor"),
                       ("resume", "lift the halt of everything, one agent or one vendor")):
        parser = commands.add_parser(verb, help=text)
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--all", action="store_true", help="every agent and vendor")
        scope.add_argument("--agent", help="one agent id")
        scope.add_argument("--vendor", help="one vendor id")
        parser.add_argument("--reason", required=verb == "halt", help="why (kept in the chain)")
        parser.add_argument("--by", required=True, help="who (kept in the chain)")
        parser.add_argument("--json", action="store_true", help="print the halt as JSON")
        parser.set_defaults(handler=run_halt if verb == "halt" else run_resume)


def scope_of(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.all:
        return "all", None
    if args.agent is not None:
        return "agent", args.agent
    return "vendor", args.vendor


def run_halt(args: argparse.Namespace) -> int:
    scope, key = scope_of(args)
    settings = load_settings()
    try:
        held = halt(settings, scope, key, reason=args.reason, by=args.by)
    except HaltError as exc:
        if "already halted" in str(exc):
            raise
        raise ConfigError(str(exc)) from None  # a missing reason, name or id is bad usage: exit 2
    print(json.dumps(held.to_dict()) if args.json else f"halted {held.target}: {held.describe()}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    scope, key = scope_of(args)
    settings = load_settings()
    lifted = resume(settings, scope, key, by=args.by, reason=args.reason)
    print(json.dumps(lifted.to_dict()) if args.json else f"resumed {lifted.target} (lifted {lifted.describe()})")
    return 0
