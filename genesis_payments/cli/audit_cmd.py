"""`genesis-payments audit verify`: check the approval log's hash chain and its anchored end; exit 1
naming the first bad line (a head that moved backwards, a decision a payment relies on gone)."""

from __future__ import annotations

import argparse
import json
import sys

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.wording import counted
from genesis_payments.ledgers.audit import verify_approval_log


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("audit", help="audit the approval log")
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the approval log's hash chain")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    settings = load_settings()
    report = verify_approval_log(settings)
    if args.json:
        print(json.dumps(report.to_dict()))
    path = "PostgreSQL table approval_chain" if settings.uses_postgres else settings.approval_log_path
    if report.ok:
        if not args.json:
            kinds = ", ".join(counted(n, kind) for kind, n in sorted(report.counts.items()))
            print(f"{path}: {counted(report.lines, 'line')} ({kinds or 'empty'}), hash chain intact "
                  f"(head {report.head_hash})")
        return 0
    print(f"genesis-payments: {path} line {report.first_bad_line}: {report.reason}", file=sys.stderr)
    return 1
