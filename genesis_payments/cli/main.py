"""Entry point of `genesis-payments` (§10): global `--root`, exit 2 for usage/config, 1 for failures."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from genesis_payments.cli import (
    approve_cmd,
    audit_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    exporter_cmd,
    halt_cmd,
    payments_cmd,
    policy_cmd,
    review_cmd,
    run_cmd,
    schemas_cmd,
    serve_cmd,
    status_cmd,
    transfer_cmd,
)
from genesis_payments.core.errors import ConfigError, PaymentsError, UsageError, database_failure_of
from genesis_payments.core.redaction import install_log_redaction, redact

# Each command group adds its sub-commands; keep one module per group.
COMMAND_GROUPS = [
    config_cmd, schemas_cmd, run_cmd, payments_cmd, approve_cmd, review_cmd, audit_cmd, demo_cmd, serve_cmd,
    exporter_cmd, halt_cmd, policy_cmd, status_cmd, db_cmd, transfer_cmd,
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
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, bad usage 2
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    if args.root:
        # Through the environment, so flow runs and subprocesses started from here see it too.
        os.environ["GENESIS_ROOT"] = args.root
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # the one place every failure becomes an exit code
        code, message = describe_failure(exc)
        if os.environ.get("GENESIS_TRACEBACK") == "1" and code == 1 and message.startswith("unexpected"):
            raise
        _say(f"genesis-payments: {redact(message)}")
        return code


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """Exit code (2 usage/configuration, 1 operation) and a one-line message naming what failed."""
    if isinstance(exc, ConfigError):
        return 2, f"configuration error: {exc}"
    if isinstance(exc, UsageError):
        return 2, str(exc)
    if isinstance(exc, PaymentsError):
        return 1, str(exc)
    if isinstance(exc, UnicodeError):
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        return 1, f"input is not valid UTF-8{where} ({exc.reason}); only UTF-8 text is accepted"
    if isinstance(exc, OSError):
        return 1, describe_os_error(exc)
    if (failure := database_failure_of(exc)) is not None:
        return 1, str(failure)
    if isinstance(exc, SystemExit):  # a handler that exits on purpose keeps its code
        return (exc.code if isinstance(exc.code, int) and exc.code in (0, 1, 2) else 1), str(exc.code or "")
    return 1, f"unexpected error ({type(exc).__name__}: {exc}); this is a bug, please report it"


def describe_os_error(exc: OSError) -> str:
    """`cannot use FILE: reason` plus what to do, for the errors an operator can fix."""
    where = exc.filename if exc.filename is not None else "a file"
    hints = {
        errno.ENOSPC: "free disk space, then retry",
        errno.EDQUOT: "free disk space (quota), then retry",
        errno.EACCES: "check the file's owner and permissions",
        errno.EPERM: "the file or its folder is read-only or immutable (chattr +i?)",
        errno.EROFS: "the file system is mounted read-only",
        errno.EISDIR: "a directory stands where a file is expected: move it away",
        errno.ENOTDIR: "a file stands where a folder is expected: move it away",
        errno.ELOOP: "a symlink loop: replace the link with the real file",
        errno.EIO: "an I/O error: check the disk",
        errno.EPIPE: "the reader of the output went away",
    }
    hint = hints.get(exc.errno or 0)
    reason = exc.strerror or type(exc).__name__
    return f"cannot use {where}: {reason}" + (f"; {hint}" if hint else "")


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr itself is gone; the exit code still says it failed


if __name__ == "__main__":
    raise SystemExit(main())
