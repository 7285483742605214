"""`audit verify` (§8): walk the approval log's hash chain and name the first line that breaks it.

A line breaks the chain when it is not a JSON object, when its `hash` is not the SHA-256 of its
own canonical JSON without `hash` (a field was edited), or when its `prev_hash` is not the `hash`
of the line before (a line was removed or lines were reordered). Decisions, halts, resumes and
policy changes are all lines of the one chain and are checked alike.

The chain alone cannot notice lines cut off the END of the log, so two anchors are checked too:
the highest head any appender or verify has recorded (`ledgers/chain_head.py`; a head that moved
backwards names the missing lines), and the `decision_hash` each payment event carries (the
decision it relied on must still be in the log).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import GENESIS_HASH
from genesis_payments.ledgers.chain_head import head_path, moved_backwards, read_head, record_head
from genesis_payments.ledgers.jsonl import BadLineError, canonical_json, decode_line, iter_lines


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    lines: int
    head_hash: str
    first_bad_line: int | None = None
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # lines by kind ("decision", "halt", ...)
    missing_decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(path: Path, *, watch_line: int | None = None, wanted: set[str] | None = None,
                 hashes_seen: dict[int, str] | None = None) -> ChainReport:
    """Check every line of the approval log in order; stop at the first broken one.

    `watch_line`: the hash of that line is put in `hashes_seen`; `wanted`: decision hashes to look
    for (each one found is removed from the set).
    """
    path = Path(path)
    previous = GENESIS_HASH
    count = 0
    counts: dict[str, int] = {}
    if not path.exists():
        return ChainReport(True, 0, GENESIS_HASH, counts=counts)
    for number, (_, raw, complete) in enumerate(iter_lines(path), start=1):
        count = number
        if not complete:
            return ChainReport(False, number, previous, number, "incomplete last line (no newline): a torn write",
                               counts=counts)
        problem, digest, kind = check_line(raw, previous)
        if problem:
            return ChainReport(False, number, previous, number, problem, counts=counts)
        counts[kind] = counts.get(kind, 0) + 1
        if wanted and kind == "decision":
            wanted.discard(digest)
        if hashes_seen is not None and number == watch_line:
            hashes_seen[number] = digest
        previous = digest
    return ChainReport(True, count, previous, counts=counts)


def check_line(raw: bytes, previous: str) -> tuple[str | None, str, str]:
    """(problem or None, the line's hash, its kind) of one line chained onto `previous`."""
    problem, digest, record = _check_record(raw, previous)
    kind = record.get("kind", "decision") if isinstance(record, dict) else "?"
    return problem, digest, str(kind)


def _check_record(raw: bytes, previous: str) -> tuple[str | None, str, dict | None]:
    try:
        record = decode_line(raw)
    except BadLineError as exc:
        return f"not a record of the chain: {exc}", previous, None
    stated = record.get("hash")
    if not isinstance(stated, str):
        return "no hash field", previous, record
    body = {k: v for k, v in record.items() if k != "hash"}
    try:
        text = canonical_json(_exact(body))
    except (TypeError, ValueError) as exc:
        return f"cannot be put in canonical form: {exc}", previous, record
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != stated:
        return "hash does not match the line's content (the line was edited)", previous, record
    if record.get("prev_hash") != previous:
        return ("prev_hash does not match the line before (a line was removed, inserted or reordered)", previous,
                record)
    return None, digest, record


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


def referenced_decisions(path: Path) -> dict[str, dict[str, Any]]:
    """decision_hash -> the first payment event relying on it (payment id and line), from transactions."""
    found: dict[str, dict[str, Any]] = {}
    if not Path(path).exists():
        return found
    for number, (_, raw, complete) in enumerate(iter_lines(path), start=1):
        if not complete or b"decision_hash" not in raw:
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # a bad ledger line is the jobs' finding, not the audit's
        digest = event.get("decision_hash") if isinstance(event, dict) else None
        if isinstance(digest, str) and digest not in found:
            found[digest] = {"payment_id": event.get("payment_id"), "line": number, "decision_hash": digest}
    return found


def referenced_decisions_of(settings: Settings) -> dict[str, dict[str, Any]]:
    """`referenced_decisions` of the payment events of the store in use (file, or PostgreSQL's table,
    `line` being the row's position in seq order, as in the file `export` writes)."""
    if settings.uses_postgres:
        from genesis_payments.postgres.ledgers import referenced_decisions_in_table

        return referenced_decisions_in_table(settings)
    return referenced_decisions(settings.transactions_path)


def verify_approval_log(settings: Settings, *, record: bool = True) -> ChainReport:
    """`verify_chain` plus both anchors of the end: the recorded head and the payment events' decisions.

    A file that cannot be read at all (a directory, no permission) is a LedgerError naming it.
    """
    try:
        return _verify(settings, record)
    except OSError as exc:
        raise LedgerError(f"cannot read {exc.filename or settings.approval_log_path}: {exc.strerror}") from exc


def _verify(settings: Settings, record: bool) -> ChainReport:
    if settings.uses_postgres:
        return _verify_postgres(settings)
    head = read_head(head_path(settings))  # read before the log: the log can only have grown since
    references = referenced_decisions_of(settings)
    wanted = set(references)
    seen: dict[int, str] = {}
    report = verify_chain(settings.approval_log_path, watch_line=head.lines if head else None, wanted=wanted,
                          hashes_seen=seen)
    if not report.ok:
        return report
    problem = moved_backwards(head, report.lines, seen.get(head.lines) if head else None)
    if problem is not None:
        at = min(report.lines + 1, head.lines) if head else report.lines
        return ChainReport(False, report.lines, report.head_hash, at, problem, counts=report.counts)
    missing_report = _missing(report, references, wanted)
    if missing_report is not None:
        return missing_report
    if record and report.lines:
        record_head(head_path(settings), report.lines, report.head_hash)
    return report


def _verify_postgres(settings: Settings) -> ChainReport:
    """The same checks on the `approval_chain` table; its head row is the recorded head."""
    from genesis_payments.ledgers.approval_log import open_approval_log

    # The payment events are read first: a decision they rely on was appended before them.
    references = referenced_decisions_of(settings)
    wanted = set(references)
    report = open_approval_log(settings).verify(wanted)
    if not report.ok:
        return report
    return _missing(report, references, wanted) or report


def _missing(report: ChainReport, references: dict[str, dict[str, Any]], wanted: set[str]) -> ChainReport | None:
    if wanted:
        missing = sorted((references[d] for d in wanted), key=lambda r: r["line"])
        first = missing[0]
        reason = (f"{len(missing)} decision(s) that payment events rely on are not in the log "
                  f"(first: payment {first['payment_id']} at transactions line {first['line']} relies on decision "
                  f"{first['decision_hash']}): decisions were removed")
        return ChainReport(False, report.lines, report.head_hash, report.lines + 1, reason, counts=report.counts,
                           missing_decisions=missing)
    return None
