"""A block of `transactions.jsonl` lines as validated columns: the exporter's fast reading path.

Validating a million lines one pydantic model at a time takes most of a minute; parsing them with
pyarrow and checking every field with vectorised kernels takes about a second. The fast path only
*accepts*: a row is taken from it when every field is in the plain, canonical form the writers of
this project produce (money `"12.5"`, timestamps `...T03:00:00.123456+00:00`, ASCII-visible ids).
Every other row, and every block pyarrow refuses as a whole (a bad line, a duplicate key, a number
where a string belongs, a blank line, CRLF), is decided by the exact per-line validator of
`jsonl.validate_line` / `PaymentEvent`. So the fast path can never accept a line the contract
rejects, a bad line is always reported with its line number and reason, and it never counts as
spend.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from genesis_payments.jsonl import MAX_LINE_BYTES, MAX_NESTING, BadLine, BadLineError, validate_line
from genesis_payments.money import MAX_USD, MICRO_PER_USD, to_micro
from genesis_payments.records import PAYMENT_STATUSES, PaymentEvent

STRING_FIELDS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token", "amount_usd",
    "business_id", "intent_id", "idempotency_key", "tx_hash", "valid_before", "error",
)
NESTING_SHORTCUT = MAX_NESTING  # brackets on one line beyond which the exact reader decides
REQUIRED_IDS = ("event_id", "payment_id", "agent", "vendor", "token")
OPTIONAL_IDS = ("business_id", "intent_id", "idempotency_key")

_SCHEMA = pa.schema([(name, pa.string()) for name in STRING_FIELDS])
_PARSE = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
# A line longer than the block is refused by pyarrow ("straddles two block boundaries"), which sends
# the block to the exact reader; that is also the contract's longest line.
_READ = pj.ReadOptions(block_size=MAX_LINE_BYTES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Canonical forms the fast path accepts; anything else goes to the exact validator.
_TS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?(\+00:00|Z)$"
_MONEY = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
_CAIP2 = r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"


EVENT_SCHEMA = pa.schema([
    ("line", pa.int64()),  # 1-based line number in the file
    ("ts_us", pa.int64()),  # µs since the Unix epoch, UTC
    ("status", pa.string()),
    ("amount_micro", pa.int64()),  # int micro-USDC; at most 1e9 USDC = 1e15, far inside int64
    ("valid_before_us", pa.int64()),  # null when absent
    ("agent", pa.string()),
    ("vendor", pa.string()),
    ("chain", pa.string()),
    ("payment_id", pa.string()),
])


@dataclass
class BlockRead:
    """Validated events (tables with `EVENT_SCHEMA`, each in line order) and bad lines."""

    tables: list[pa.Table] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    lines: int = 0

    def extend(self, other: BlockRead) -> None:
        self.tables.extend(other.tables)
        self.bad_lines.extend(other.bad_lines)


def read_event_block(data: bytes, first_line: int, path: Path) -> BlockRead:
    """Parse complete lines (`data` ends with `\\n`), numbered from `first_line`."""
    if not data:
        return BlockRead()
    view = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(view == 0x0A)
    read = _read_block(data, view, ends, first_line, path)
    read.lines = len(ends)
    return read


def _read_block(data: bytes, view: np.ndarray, ends: np.ndarray, first_line: int, path: Path) -> BlockRead:
    if _needs_exact_reading(data, view, ends):
        return _read_exactly(data, first_line, path)
    try:
        table = pj.read_json(io.BytesIO(data), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _read_exactly(data, first_line, path)  # a bad line somewhere, a duplicate key
    if table.num_rows != len(ends):
        return _read_exactly(data, first_line, path)  # e.g. two objects on one line
    return _validate_table(table, data, first_line, path)


def _needs_exact_reading(data: bytes, view: np.ndarray, ends: np.ndarray) -> bool:
    """Shapes pyarrow would silently accept but the contract rejects: blank, CRLF, BOM, long lines.

    Every line must open with `{` and close with `}` (blank, whitespace-only, BOM-prefixed and CRLF
    lines fail that; pyarrow would skip or strip them), a line holding two objects is caught by the
    row count afterwards, and no line may be longer than the contract's limit.
    """
    starts = np.concatenate(([0], ends[:-1] + 1))
    if (view[starts] != 0x7B).any() or (view[ends - 1] != 0x7D).any():
        return True
    if int((ends - starts).max()) > MAX_LINE_BYTES:
        return True
    return _may_nest_deeply(data, view, starts)


def _may_nest_deeply(data: bytes, view: np.ndarray, starts: np.ndarray) -> bool:
    """A line with many brackets is left to the exact reader, whose nesting limit then decides
    (pyarrow parses any depth; the per-line reader refuses deep nesting as a bad line)."""
    if data.count(b"{") + data.count(b"[") <= len(starts) - 1 + NESTING_SHORTCUT:
        return False  # every line has its own `{`, so none can hold more than the shortcut
    brackets = ((view == 0x7B) | (view == 0x5B)).view(np.uint8)
    return int(np.add.reduceat(brackets, starts, dtype=np.int64).max()) > NESTING_SHORTCUT


def _read_exactly(data: bytes, first_line: int, path: Path) -> BlockRead:
    lines = data.split(b"\n")[:-1]
    return _validate_lines(lines, range(first_line, first_line + len(lines)), path)


def _validate_lines(lines: list[bytes], numbers: range | list[int], path: Path) -> BlockRead:
    result = BlockRead()
    events: list[tuple[int, PaymentEvent]] = []
    for number, raw in zip(numbers, lines, strict=True):
        try:
            events.append((number, validate_line(raw, PaymentEvent)))
        except BadLineError as exc:
            result.bad_lines.append(BadLine(str(path), number, str(exc)))
    if events:
        result.tables.append(_table_from_models(events))
    return result


def _table_from_models(events: list[tuple[int, PaymentEvent]]) -> pa.Table:
    return pa.table(
        {
            "line": [n for n, _ in events],
            "ts_us": [epoch_us(e.ts) for _, e in events],
            "status": [e.status for _, e in events],
            "amount_micro": [to_micro(e.amount_usd) for _, e in events],
            "valid_before_us": [epoch_us(e.valid_before) if e.valid_before is not None else None for _, e in events],
            "agent": [e.agent for _, e in events],
            "vendor": [e.vendor for _, e in events],
            "chain": [e.chain for _, e in events],
            "payment_id": [e.payment_id for _, e in events],
        },
        schema=EVENT_SCHEMA,
    )


def epoch_us(moment: datetime) -> int:
    """Whole µs since the Unix epoch of an aware datetime, computed without floats."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _validate_table(table: pa.Table, data: bytes, first_line: int, path: Path) -> BlockRead:
    ts_us, ts_ok = _timestamps_us(table.column("ts"))
    vb = table.column("valid_before")
    vb_us, vb_ok = _timestamps_us(vb)
    micro, money_ok = _amounts_micro(table.column("amount_usd"))
    ok = _fast_acceptable(table)
    for check in (ts_ok, pc.or_(pc.is_null(vb), vb_ok), money_ok):
        ok = pc.and_(ok, check)
    ok = pc.fill_null(ok, False)

    result = BlockRead()
    line = pa.array(np.arange(first_line, first_line + table.num_rows, dtype=np.int64))
    fast = pa.table(
        {
            "line": line,
            "ts_us": ts_us,
            "status": table.column("status"),
            "amount_micro": micro,
            "valid_before_us": pc.if_else(vb_ok, vb_us, pa.scalar(None, pa.int64())),
            "agent": table.column("agent"),
            "vendor": table.column("vendor"),
            "chain": table.column("chain"),
            "payment_id": table.column("payment_id"),
        },
        schema=EVENT_SCHEMA,
    ).filter(ok)
    if fast.num_rows:
        result.tables.append(fast)
    if fast.num_rows < table.num_rows:
        slow = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        lines = data.split(b"\n")
        result.extend(_validate_lines([lines[i] for i in slow], [first_line + int(i) for i in slow], path))
    return result


def _fast_acceptable(table: pa.Table) -> pa.ChunkedArray:
    ok = pc.fill_null(pc.is_in(table.column("status"), value_set=pa.array(PAYMENT_STATUSES)), False)
    ok = pc.and_(ok, pc.fill_null(pc.match_substring_regex(table.column("chain"), _CAIP2), False))
    for name in REQUIRED_IDS:
        ok = pc.and_(ok, _is_plain_id(table.column(name)))
    for name in OPTIONAL_IDS:
        column = table.column(name)
        ok = pc.and_(ok, pc.or_(pc.is_null(column), _is_plain_id(column)))
    return ok


def _is_plain_id(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """1 to 256 ASCII characters, not all white space: an `Id` under any regex engine.

    ASCII only, because "white space" differs between regex engines beyond it; other values go to
    the exact validator, which decides.
    """
    length = pc.binary_length(column)
    plain = pc.and_(
        pc.and_(pc.string_is_ascii(column), pc.invert(pc.ascii_is_space(column))),
        pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, 256)),
    )
    return pc.fill_null(plain, False)


def _timestamps_us(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """µs since epoch of canonical UTC timestamps, and which rows were canonical and real instants."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _TS), False)
    text = pc.if_else(shaped, column, "1970-01-01T00:00:00+00:00")
    try:
        us = pc.cast(pc.cast(text, pa.timestamp("us", tz="UTC")), pa.int64())
        return us, shaped
    except pa.ArrowInvalid:
        return _timestamps_us_checked(text, shaped)


def _timestamps_us_checked(text: pa.ChunkedArray, shaped: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    # Slower, row by row in C: some well-shaped value is not a real date (30 February).
    seconds_text = pc.utf8_slice_codeunits(text, 0, 19)
    seconds = pc.strptime(seconds_text, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime rolls 30 February over into March; formatting it back catches that.
    real = pc.fill_null(pc.equal(pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S"), seconds_text), False)
    has_fraction = pc.equal(pc.utf8_slice_codeunits(text, 19, 20), ".")
    fraction = pc.cast(pc.if_else(has_fraction, pc.utf8_slice_codeunits(text, 20, 26), "0"), pa.int64())
    us = pc.add(pc.multiply(pc.fill_null(pc.cast(seconds, pa.int64()), 0), 1_000_000), fraction)
    return us, pc.and_(shaped, real)


def _amounts_micro(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """int micro-USDC of canonical money strings, and which rows were canonical and within the limit."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _MONEY), False)
    text = pc.if_else(shaped, column, "0")
    # "12" → "12." so every value splits into a whole and a (possibly empty) fraction part.
    dotted = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".", ""))
    parts = pc.split_pattern(dotted, ".", max_splits=1)
    whole = pc.cast(pc.list_element(parts, 0), pa.int64())
    fraction = pc.cast(pc.utf8_rpad(pc.list_element(parts, 1), 6, "0"), pa.int64())
    # At most 10 whole digits (the pattern), so this cannot overflow int64.
    micro = pc.add(pc.multiply(whole, MICRO_PER_USD), fraction)
    within = pc.less_equal(micro, int(MAX_USD) * MICRO_PER_USD)
    return micro, pc.and_(shaped, within)
