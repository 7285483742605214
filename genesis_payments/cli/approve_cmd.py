"""`genesis-payments approve`: decide payment intents (one JSON object on stdin, or a JSONL file).

Prints one decision per line on stdout (the decision as appended to the approval log). A line that
is not a valid intent is reported on stderr with its line number and the command exits 1 after
deciding the others; a denied intent is a decision, not an error (exit 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import PaymentsError
from genesis_payments.ledgers.jsonl import BadLineError, canonical_json, decode_line


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("approve", help="evaluate payment intents, print one decision per line")
    parser.add_argument("--file", type=Path, help="JSONL file of intents (default: JSON on stdin)")
    parser.set_defaults(handler=run_approve)


def make_agent() -> GenesisMetaAgent:
    """The meta agent the CLI uses (tests replace this to inject a fake vendor catalogue)."""
    return GenesisMetaAgent(load_settings().require_ready())


def run_approve(args: argparse.Namespace) -> int:
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PaymentsError(f"cannot read {args.file}: {exc.strerror}") from exc
        source = str(args.file)
    else:
        text = sys.stdin.read()
        source = "stdin"
    agent = make_agent()
    failures = 0
    for number, raw in _intent_lines(text):
        try:
            intent = decode_line(raw.encode("utf-8"))
            decision = agent.approve_payment_intent(intent)
        except (BadLineError, PaymentsError) as exc:
            failures += 1
            print(f"genesis-payments: {source} line {number}: {exc}", file=sys.stderr)
            continue
        print(canonical_json(decision.to_json_dict()), flush=True)
    return 1 if failures else 0


def _intent_lines(text: str) -> list[tuple[int, str]]:
    """One pretty-printed object, or one object per line."""
    stripped = text.strip()
    if not stripped:
        raise PaymentsError("no intent given (JSON on stdin or --file intents.jsonl)")
    if "\n" in stripped and stripped.startswith("{"):
        try:
            return [(1, json.dumps(json.loads(stripped)))]
        except ValueError:
            pass
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
