"""Entry point of `genesis-payments` (§10): global `--root`, exit 2 for usage/config, 1 for failures."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from genesis_payments.cli import (
    approve_cmd,
    audit_cmd,
    config_cmd,
    demo_cmd,
    exporter_cmd,
    payments_cmd,
    review_cmd,
    run_cmd,
    schemas_cmd,
    serve_cmd,
)
from genesis_payments.core.errors import ConfigError, PaymentsError
from genesis_payments.core.redaction import install_log_redaction, redact

# Each command group adds its sub-commands; keep one module per group.
COMMAND_GROUPS = [
    config_cmd, schemas_cmd, run_cmd, payments_cmd, approve_cmd, review_cmd, audit_cmd, demo_cmd, serve_cmd,
    exporter_cmd,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genesis-payments", description="Genesis payment operations")
    parser.add_argument("--root", help="data root (overrides GENESIS_ROOT)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_log_redaction()
    args = build_parser().parse_args(argv)
    if args.root:
        # Through the environment, so flow runs and subprocesses started from here see it too.
        os.environ["GENESIS_ROOT"] = args.root
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"genesis-payments: configuration error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except PaymentsError as exc:
        print(f"genesis-payments: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
