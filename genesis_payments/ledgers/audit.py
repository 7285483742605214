"""`audit verify` (§8): walk the approval log's hash chain and name the first line that breaks it.

A line breaks the chain when it is not a JSON object, when its `hash` is not the SHA-256 of its
own canonical JSON without `hash` (a field was edited), or when its `prev_hash` is not the `hash`
of the line before (a line was removed or lines were reordered).

The chain alone cannot notice lines cut off the END of the log. So each successful verify records
the head it saw (line count and hash) under the private state folder, and the next verify checks
that this head is still there: a log cut below a verified head fails at the first missing line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.core.wording import counted
from genesis_payments.ledgers.approval_log import GENESIS_HASH
from genesis_payments.ledgers.jsonl import BadLineError, canonical_json, decode_line, iter_lines


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    lines: int
    head_hash: str
    first_bad_line: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(path: Path) -> ChainReport:
    """Check every line of the approval log in order; stop at the first broken one."""
    path = Path(path)
    previous = GENESIS_HASH
    count = 0
    if not path.exists():
        return ChainReport(True, 0, GENESIS_HASH)
    for number, (_, raw, complete) in enumerate(iter_lines(path), start=1):
        count = number
        if not complete:
            return ChainReport(False, number, previous, number, "incomplete last line (no newline): a torn write")
        problem, digest = _check_line(raw, previous)
        if problem:
            return ChainReport(False, number, previous, number, problem)
        previous = digest
    return ChainReport(True, count, previous)


def _check_line(raw: bytes, previous: str) -> tuple[str | None, str]:
    try:
        record = decode_line(raw)
    except BadLineError as exc:
        return f"not a decision record: {exc}", previous
    stated = record.get("hash")
    if not isinstance(stated, str):
        return "no hash field", previous
    body = {k: v for k, v in record.items() if k != "hash"}
    try:
        text = canonical_json(_exact(body))
    except (TypeError, ValueError) as exc:
        return f"cannot be put in canonical form: {exc}", previous
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != stated:
        return "hash does not match the line's content (the line was edited)", previous
    if record.get("prev_hash") != previous:
        return "prev_hash does not match the line before (a line was removed, inserted or reordered)", previous
    return None, digest


def _exact(value: Any) -> Any:
    # Numbers never appear in lines this project writes; a Decimal here (from an edit) must not
    # crash the walk, and json cannot re-emit its original text, so it fails as a mismatch instead.
    if isinstance(value, Decimal):
        return json.loads(str(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def anchor_path(settings: Settings) -> Path:
    return settings.state_dir / "approval_log_head.json"


def verify_approval_log(settings: Settings, *, record_head: bool = True) -> ChainReport:
    """`verify_chain` plus the head recorded by the last successful verify (cut-off tails)."""
    report = verify_chain(settings.approval_log_path)
    if not report.ok:
        return report
    anchor = read_json_file(anchor_path(settings), default=None)
    if isinstance(anchor, dict) and isinstance(anchor.get("lines"), int) and anchor["lines"] > 0:
        lines, expected = anchor["lines"], anchor.get("hash")
        if report.lines < lines:
            return ChainReport(
                False, report.lines, report.head_hash, report.lines + 1,
                f"line missing: the log had {counted(lines, 'line')} when verified at {anchor.get('verified_at')}, "
                f"now {report.lines} (lines were removed from the end)",
            )
        if _hash_at(settings.approval_log_path, lines) != expected:
            return ChainReport(
                False, report.lines, report.head_hash, lines,
                f"line {lines} is not the line verified at {anchor.get('verified_at')}",
            )
    if record_head and report.lines:
        write_json_atomic(
            anchor_path(settings),
            {"lines": report.lines, "hash": report.head_hash, "verified_at": format_utc(utc_now())},
            mode=0o600,
        )
    return report


def _hash_at(path: Path, line_number: int) -> str | None:
    for number, (_, raw, _complete) in enumerate(iter_lines(path), start=1):
        if number == line_number:
            try:
                return str(decode_line(raw).get("hash"))
            except BadLineError:
                return None
    return None
