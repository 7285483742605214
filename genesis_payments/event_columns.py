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

from genesis_payments.jsonl import BOM, MAX_LINE_BYTES, BadLine, BadLineError, validate_line
from genesis_payments.money import MAX_USD, MICRO_PER_USD, to_micro
from genesis_payments.records import PAYMENT_STATUSES, PaymentEvent

STRING_FIELDS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token", "amount_usd",
    "business_id", "intent_id", "idempotency_key", "tx_hash", "valid_before", "error",
)
REQUIRED_IDS = ("event_id", "payment_id", "agent", "vendor", "token")
OPTIONAL_IDS = ("business_id", "intent_id", "idempotency_key")

_SCHEMA = pa.schema([(name, pa.string()) for name in STRING_FIELDS])
_PARSE = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
_STATUS_CODES = {status: code for code, status in enumerate(PAYMENT_STATUSES)}
STATUS_NAMES: tuple[str, ...] = PAYMENT_STATUSES
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Canonical forms the fast path accepts; anything else goes to the exact validator.
_TS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?(\+00:00|Z)$"
_MONEY = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
_CAIP2 = r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"
_VISIBLE_ASCII = r"[!-~]"  # a visible ASCII character is `\S` under every regex engine


@dataclass
class EventColumns:
    """Validated events of one block, in file order; money in int micro-USDC, times in µs since epoch."""

    line: np.ndarray  # int64 line numbers (1-based, in the file)
    ts_us: np.ndarray  # int64
    status: np.ndarray  # int8 index into STATUS_NAMES
    amount_micro: list[int]  # Python ints: exact whatever the size
    valid_before_us: np.ndarray  # int64, -1 where absent
    agent: list[str]
    vendor: list[str]
    chain: list[str]
    payment_id: list[str]

    def __len__(self) -> int:
        return len(self.line)


@dataclass
class BlockRead:
    columns: list[EventColumns] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)

    def extend(self, other: BlockRead) -> None:
        self.columns.extend(other.columns)
        self.bad_lines.extend(other.bad_lines)


def read_event_block(data: bytes, first_line: int, path: Path) -> BlockRead:
    """Parse complete lines (`data` ends with `\\n`), numbered from `first_line`."""
    if not data:
        return BlockRead()
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    if _needs_exact_reading(data, ends):
        return _read_exactly(data, first_line, path)
    try:
        table = pj.read_json(io.BytesIO(data), parse_options=_PARSE)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _read_exactly(data, first_line, path)
    if table.num_rows != len(ends):
        return _read_exactly(data, first_line, path)  # e.g. two objects on one line
    return _validate_table(table, data, ends, first_line, path)


def _needs_exact_reading(data: bytes, ends: np.ndarray) -> bool:
    """Shapes pyarrow would silently accept but the contract rejects: blank, CRLF, BOM, huge lines."""
    view = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    if lengths.min() < 2 or lengths.max() > MAX_LINE_BYTES or BOM in data:
        return True
    # Every line must open with `{` and close with `}`; whitespace-only and CRLF lines fail this.
    return bool((view[starts] != 0x7B).any() or (view[ends - 1] != 0x7D).any())


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
        result.columns.append(_columns_from_models(events))
    return result


def _columns_from_models(events: list[tuple[int, PaymentEvent]]) -> EventColumns:
    return EventColumns(
        line=np.array([n for n, _ in events], dtype=np.int64),
        ts_us=np.array([epoch_us(e.ts) for _, e in events], dtype=np.int64),
        status=np.array([_STATUS_CODES[e.status] for _, e in events], dtype=np.int8),
        amount_micro=[to_micro(e.amount_usd) for _, e in events],
        valid_before_us=np.array(
            [epoch_us(e.valid_before) if e.valid_before is not None else -1 for _, e in events], dtype=np.int64
        ),
        agent=[e.agent for _, e in events],
        vendor=[e.vendor for _, e in events],
        chain=[e.chain for _, e in events],
        payment_id=[e.payment_id for _, e in events],
    )


def epoch_us(moment: datetime) -> int:
    """Whole µs since the Unix epoch of an aware datetime, computed without floats."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _validate_table(table: pa.Table, data: bytes, ends: np.ndarray, first_line: int, path: Path) -> BlockRead:
    ok = _fast_acceptable(table)
    ts_us, ts_ok = _timestamps_us(table.column("ts"))
    vb = table.column("valid_before")
    vb_us, vb_ok = _timestamps_us(vb)
    ok = pc.and_(ok, ts_ok)
    ok = pc.and_(ok, pc.or_(pc.is_null(vb), vb_ok))  # both sides are never null
    micro, money_ok = _amounts_micro(table.column("amount_usd"))
    ok = pc.fill_null(pc.and_(ok, money_ok), False).to_numpy(zero_copy_only=False)

    result = BlockRead()
    fast = np.flatnonzero(ok)
    if len(fast):
        result.columns.append(
            EventColumns(
                line=fast.astype(np.int64) + first_line,
                ts_us=ts_us[fast],
                status=_status_codes(table.column("status")).take(pa.array(fast)).to_numpy().astype(np.int8),
                amount_micro=[int(v) for v in micro[fast]],
                valid_before_us=np.where(vb_ok.to_numpy(zero_copy_only=False), vb_us, -1)[fast],
                agent=table.column("agent").take(fast).to_pylist(),
                vendor=table.column("vendor").take(fast).to_pylist(),
                chain=table.column("chain").take(fast).to_pylist(),
                payment_id=table.column("payment_id").take(fast).to_pylist(),
            )
        )
    slow = np.flatnonzero(~ok)
    if len(slow):
        starts = np.concatenate(([0], ends[:-1] + 1))
        lines = [data[starts[i] : ends[i]] for i in slow]
        result.extend(_validate_lines(lines, [first_line + int(i) for i in slow], path))
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
    length = pc.utf8_length(column)
    plain = pc.and_(
        pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, 256)),
        pc.match_substring_regex(column, _VISIBLE_ASCII),
    )
    return pc.fill_null(plain, False)


def _status_codes(column: pa.ChunkedArray) -> pa.Array:
    return pc.fill_null(pc.index_in(column, value_set=pa.array(PAYMENT_STATUSES)), 0).combine_chunks()


def _timestamps_us(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.ChunkedArray]:
    """µs since epoch of canonical UTC timestamps, and which rows were canonical and real dates."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _TS), False)
    text = pc.if_else(shaped, column, "1970-01-01T00:00:00+00:00")
    seconds_text = pc.utf8_slice_codeunits(text, 0, 19)
    seconds = pc.strptime(seconds_text, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime rolls 30 February over into March; formatting it back catches that.
    real = pc.fill_null(pc.equal(pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S"), seconds_text), False)
    has_fraction = pc.equal(pc.utf8_slice_codeunits(text, 19, 20), ".")
    fraction = pc.if_else(has_fraction, pc.utf8_slice_codeunits(text, 20, 26), "0")
    us = (
        pc.fill_null(pc.cast(seconds, pa.int64()), 0).to_numpy() * 1_000_000
        + pc.cast(fraction, pa.int64()).to_numpy()
    )
    return us.astype(np.int64), pc.and_(shaped, real)


def _amounts_micro(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.ChunkedArray]:
    """int micro-USDC of canonical money strings (at most 1e9 fits int64 with room to spare)."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _MONEY), False)
    text = pc.if_else(shaped, column, "0")
    # "12" → "12." so every value splits into a whole and a (possibly empty) fraction part.
    dotted = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".", ""))
    parts = pc.split_pattern(dotted, ".", max_splits=1)
    whole = pc.cast(pc.list_element(parts, 0), pa.int64()).to_numpy()
    fraction = pc.cast(pc.utf8_rpad(pc.list_element(parts, 1), 6, "0"), pa.int64())
    micro = whole * MICRO_PER_USD + fraction.to_numpy()
    within = pc.less_equal(pa.chunked_array([micro]), int(MAX_USD) * MICRO_PER_USD)
    return micro.astype(np.int64), pc.and_(shaped, within)

