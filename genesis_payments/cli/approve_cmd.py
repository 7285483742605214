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
from genesis_payments.core.errors import PaymentsError, UsageError
from genesis_payments.ledgers.jsonl import BadLineError, canonical_json, decode_line, open_for_reading


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("approve", help="evaluate payment intents, print one decision per line")
    parser.add_argument("--file", type=Path, help="JSONL file of intents (default: JSON on stdin)")
    parser.set_defaults(handler=run_approve)


def make_agent() -> GenesisMetaAgent:
    """The meta agent the CLI uses (tests replace this to inject a fake vendor catalogue)."""
    return GenesisMetaAgent(load_settings().require_ready())


def run_approve(args: argparse.Namespace) -> int:
    if args.file is not None:
        source = str(args.file)
        try:
            with open_for_reading(args.file) as handle:  # a regular file: not a directory or a FIFO
                data = handle.read()
        except FileNotFoundError:
            raise UsageError(f"--file {args.file}: no such file") from None
        except OSError as exc:
            raise PaymentsError(f"cannot read {args.file}: {exc.strerror}") from exc
    else:
        source = "stdin"
        data = _read_stdin()
    # Undecodable bytes stay as surrogates so that their line alone is refused (below).
    text = data if isinstance(data, str) else data.decode("utf-8", errors="surrogateescape")
    agent = make_agent()
    failures = 0
    for number, raw in _intent_lines(text):
        try:
            intent = decode_line(_utf8_line(raw))
            decision = agent.approve_payment_intent(intent)
        except (BadLineError, PaymentsError) as exc:
            failures += 1
            print(f"genesis-payments: {source} line {number}: {exc}", file=sys.stderr)
            continue
        print(canonical_json(decision.to_json_dict()), flush=True)
    return 1 if failures else 0


def _read_stdin() -> bytes | str:
    """Stdin's bytes (decoded by us, so invalid UTF-8 is named); text when stdin has no bytes layer."""
    stream = sys.stdin
    if stream is None:
        raise UsageError("no intent given: stdin is closed (pass JSON on stdin or --file intents.jsonl)")
    try:
        buffer = getattr(stream, "buffer", None)
        return buffer.read() if buffer is not None else stream.read()
    except UnicodeDecodeError as exc:
        raise PaymentsError(f"stdin: not valid UTF-8 (byte {exc.start}); intents are UTF-8 JSON") from None
    except (OSError, ValueError) as exc:
        raise PaymentsError(f"cannot read stdin: {exc}") from exc


def _utf8_line(line: str) -> bytes:
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadLineError(f"not valid UTF-8 (character {exc.start + 1}); intents are UTF-8 JSON") from None


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
