"""Ledgers as pandas frames for the jobs: money as int64 micro-USDC, times as UTC datetimes.

Each reader returns the frame of good rows (with the `line` each came from) and the bad lines.

The files can hold millions of lines, so they are read in blocks with pyarrow's JSON reader and
validated column by column. A line is accepted on that fast path only when every check is
certain; anything the fast path is unsure of (a block pyarrow refuses, a value in an unusual but
perhaps valid form) goes through the per-line validator of `jsonl.py`, which gives the same
verdict and reason as `read_jsonl` would. So the verdict on every line is `read_jsonl`'s, and a
bad line is never counted into money.

`columns=` reads a projection: only the JSON fields behind those columns are parsed and validated
(plus the line being one well-formed JSON object). Jobs that need a few columns of a big ledger
use it; without it every field of the record is validated.

Column types: ids and names are pandas strings (Arrow-backed), `status` and `kind` categoricals of
their allowed values, `amount_micro` and `line` int64, `ts`/`valid_before` `datetime64[us, UTC]`.
One difference from `read_jsonl` remains: the 1 MiB cap on a line is not enforced on the fast path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from genesis_payments.errors import LedgerError
from genesis_payments.jsonl import BadLine, BadLineError, validate_line
from genesis_payments.money import MICRO_PER_USD, to_micro
from genesis_payments.records import PAYMENT_STATUSES, FinanceEntry, PaymentEvent, Record

EVENT_COLUMNS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token",
    "amount_micro", "business_id", "intent_id", "valid_before", "line",
)
ENTRY_COLUMNS = ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind", "line")

_SMALL_BLOCK = 64 << 10  # a doubtful block this small is read line by line
BLOCK_BYTES = 8 << 20  # bounds the memory of one block's parse; bigger is not faster
_TIME_COLUMNS = ("ts", "valid_before")
_MAX_MICRO = 1_000_000_000 * MICRO_PER_USD
_CAIP2 = r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"

# What each JSON field must hold, per record kind; mirrors the pydantic models of records.py.
_EVENT_FIELDS: dict[str, str] = {
    "event_id": "id", "ts": "time", "payment_id": "id", "status": "status", "agent": "id", "vendor": "id",
    "chain": "caip2", "token": "id", "amount_usd": "usd", "business_id": "opt_id", "intent_id": "opt_id",
    "idempotency_key": "opt_id", "tx_hash": "opt_str", "valid_before": "opt_time", "error": "opt_str",
}
_ENTRY_FIELDS: dict[str, str] = {
    "entry_id": "id", "ts": "time", "payment_id": "id", "agent": "id", "vendor": "id",
    "amount_usd": "usd", "kind": "kind",
}
_ENUMS = {"status": pa.array(PAYMENT_STATUSES), "kind": pa.array(["debit", "refund"])}


@dataclass
class FrameRead:
    frame: pd.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)


def read_payment_events_frame(path: Path, columns: Sequence[str] | None = None) -> FrameRead:
    """`transactions.jsonl` as a frame with the columns of `EVENT_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), PaymentEvent, _EVENT_FIELDS, EVENT_COLUMNS, columns)


def read_finance_entries_frame(path: Path, columns: Sequence[str] | None = None) -> FrameRead:
    """`finance_ledger.jsonl` as a frame with the columns of `ENTRY_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), FinanceEntry, _ENTRY_FIELDS, ENTRY_COLUMNS, columns)


@dataclass
class _Spec:
    path: Path
    model: type[Record]
    checks: dict[str, str]  # JSON field → kind of check
    columns: tuple[str, ...]  # output columns, in order

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(name, pa.string()) for name in self.checks])


def _read_frame(
    path: Path, model: type[Record], fields: dict[str, str], all_columns: tuple[str, ...],
    columns: Sequence[str] | None,
) -> FrameRead:
    wanted = tuple(all_columns if columns is None else columns)
    unknown = [c for c in wanted if c not in all_columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; choose from {list(all_columns)}")
    if columns is None:
        checks = dict(fields)
    else:
        sources = {"amount_usd" if c == "amount_micro" else c for c in wanted if c != "line"}
        checks = {name: kind for name, kind in fields.items() if name in sources}
    spec = _Spec(path, model, checks, wanted)
    parts: list[pd.DataFrame] = []
    bad: list[BadLine] = []
    if path.exists():
        line = 1
        torn: list[bool] = []
        try:
            for block in _blocks(path, torn):
                frame, block_bad, count = _read_block(spec, block, line)
                parts.append(frame)
                bad.extend(block_bad)
                line += count
        except OSError as exc:
            raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
        if torn:
            bad.append(BadLine(str(path), line, "incomplete last line (no newline): a torn write"))
    bad.sort(key=lambda b: b.line)
    frame = pd.concat(parts, ignore_index=True) if parts else _empty_frame(wanted)
    return FrameRead(frame, bad)


def _blocks(path: Path, torn: list[bool]) -> Iterator[_Block]:
    """Blocks of whole lines; a last line without its newline (a torn write) appends to `torn`.

    A block is not sliced (a copy of megabytes): it keeps its bounds, and the file is rewound to
    the start of the unfinished line for the next block.
    """
    with open(path, "rb") as handle:
        while True:
            data = handle.read(BLOCK_BYTES)
            if not data:
                return
            end = data.rfind(b"\n") + 1
            if end == 0 and len(data) == BLOCK_BYTES:
                data += handle.readline()  # one line longer than a block: take all of it
                end = data.rfind(b"\n") + 1
            if end == 0:
                torn.append(True)
                return
            if end < len(data):
                handle.seek(end - len(data), 1)
            yield _Block(data, 0, end)


@dataclass
class _Block:
    """Bytes `start:end` of `data`: whole lines, looked at without copying them."""

    data: bytes
    start: int
    end: int

    def has(self, needle: bytes) -> bool:
        return self.data.find(needle, self.start, self.end) >= 0

    def lines(self) -> list[bytes]:
        return self.data[self.start: self.end].split(b"\n")[:-1]

    def buffer(self) -> pa.Buffer:
        return pa.py_buffer(self.data).slice(self.start, self.end - self.start)

    def halves(self) -> tuple[_Block, _Block] | None:
        """Two blocks of whole lines, split near the middle; None for a single line."""
        middle = self.data.rfind(b"\n", self.start, (self.start + self.end) // 2) + 1
        if middle <= self.start:
            middle = self.data.find(b"\n", (self.start + self.end) // 2, self.end - 1) + 1
        if not self.start < middle < self.end:
            return None
        return _Block(self.data, self.start, middle), _Block(self.data, middle, self.end)


def _read_block(spec: _Spec, block: _Block, first_line: int) -> tuple[pd.DataFrame, list[BadLine], int]:
    """The block's good rows, its bad lines, and how many lines it has."""
    parsed = _parse_block(spec, block)
    if parsed is None:
        halves = block.halves() if block.end - block.start > _SMALL_BLOCK else None
        if halves is None:
            lines = block.lines()
            frame, bad = _read_lines_slowly(spec, lines, first_line)
            return frame, bad, len(lines)
        # Narrow a doubtful block down by halves, so one bad line costs a few small slow reads.
        left_frame, left_bad, left_count = _read_block(spec, halves[0], first_line)
        right_frame, right_bad, right_count = _read_block(spec, halves[1], first_line + left_count)
        return pd.concat([left_frame, right_frame], ignore_index=True), left_bad + right_bad, left_count + right_count
    table, count = parsed
    try:
        ok, values = _validate(spec, table)
    except pa.ArrowInvalid:
        lines = block.lines()
        frame, bad = _read_lines_slowly(spec, lines, first_line)
        return frame, bad, len(lines)
    lines = pa.array(np.arange(first_line, first_line + table.num_rows, dtype=np.int64))
    frame = _to_frame(spec, table, values, lines, ok)
    if bool(pc.all(ok).as_py()):
        return frame, [], count
    # The fast checks were unsure of some rows: the per-line validator decides each of them.
    failed = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
    raw_lines = block.lines()
    slow, bad = _read_lines_slowly(spec, [(i, raw_lines[i]) for i in failed], first_line, indexed=True)
    if len(slow):
        frame = pd.concat([frame, slow], ignore_index=True).sort_values("line", ignore_index=True)
    return frame, bad, count


def _parse_block(spec: _Spec, block: _Block) -> tuple[pa.Table, int] | None:
    """The block as a table of string columns and its line count, or None when pyarrow cannot be trusted."""
    data = block.data
    if block.has(b"\r"):
        return None
    # pyarrow accepts NaN and Infinity in fields it skips; the contract refuses them anywhere. The
    # one-byte search is much faster than the word search, and capitals are rare in ledgers.
    if (block.has(b"N") and block.has(b"NaN")) or (block.has(b"I") and block.has(b"Infinity")):
        return None
    if not data.isascii():
        try:
            data[block.start: block.end].decode("utf-8")  # pyarrow does not check UTF-8 inside strings
        except UnicodeDecodeError:
            return None
    pieces = _split(block, _parse_threads())
    results = list(_pool().map(lambda piece: _parse_piece(spec, piece), pieces))
    if any(r is None for r in results):
        return None
    table = pa.concat_tables([r[0] for r in results]) if len(results) > 1 else results[0][0]
    return table, sum(r[1] for r in results)


def _parse_piece(spec: _Spec, piece: _Block) -> tuple[pa.Table, int] | None:
    """One piece, parsed by pyarrow as a single chunk in a worker thread (pyarrow and numpy free the GIL).

    A JSON `null` as the first value of a pyarrow chunk crashes the process (pyarrow 26), so a piece
    is one chunk and must start with `{`; a `null` later in a chunk is just a row too many, caught
    by the line count.
    """
    if piece.data[piece.start] != ord("{"):
        return None
    count = int(np.count_nonzero(
        np.frombuffer(piece.data, dtype=np.uint8, count=piece.end - piece.start, offset=piece.start) == ord("\n")))
    try:
        table = pajson.read_json(
            pa.BufferReader(piece.buffer()),
            read_options=pajson.ReadOptions(block_size=piece.end - piece.start + 1, use_threads=False),
            parse_options=pajson.ParseOptions(explicit_schema=spec.schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    # Blank lines are skipped and two objects on one line are two rows: either breaks line numbers.
    return (table, count) if table.num_rows == count else None


def _split(block: _Block, pieces: int) -> list[_Block]:
    parts = [block]
    while len(parts) < pieces and parts[0].end - parts[0].start > _SMALL_BLOCK:
        halves = [h for part in parts for h in (part.halves() or (part,))]
        if len(halves) == len(parts):
            break
        parts = halves
    return parts


_POOL: ThreadPoolExecutor | None = None


def _parse_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_parse_threads(), thread_name_prefix="frames-parse")
    return _POOL


def _validate(spec: _Spec, table: pa.Table) -> tuple[pa.Array, dict[str, Any]]:
    """A boolean per row (every check passed) and the converted values (micro-USDC, times)."""
    ok = pa.array(np.ones(table.num_rows, dtype=bool))
    values: dict[str, Any] = {}
    for name, kind in spec.checks.items():
        column = table.column(name).combine_chunks() if table.num_rows else pa.array([], pa.string())
        if kind == "usd":
            good, values["amount_micro"] = _money(column)
        elif kind in ("time", "opt_time"):
            good, values[name] = _times(column, optional=kind == "opt_time")
        elif kind in _ENUMS:
            good = pc.fill_null(pc.is_in(column, value_set=_ENUMS[kind]), False)
        elif kind == "caip2":
            good = pc.fill_null(pc.match_substring_regex(column, _CAIP2), False)
        elif kind in ("id", "opt_id"):
            length = pc.utf8_length(column)
            good = pc.and_(pc.greater(length, 0), pc.less_equal(length, 256))
            good = pc.and_(good, pc.invert(pc.utf8_is_space(column)))
            good = pc.fill_null(good, kind == "opt_id")
        else:  # opt_str: any string or null; pyarrow already refused other JSON types
            continue
        ok = pc.and_(ok, good)
    return ok, values


def _money(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Money strings as micro-USDC; a value in a form arrow will not cast is left to the per-line check.

    Arrow's decimal cast accepts a subset of what `Decimal()` accepts, with the same value, and
    refuses more than 6 decimals; negative amounts and amounts over the limit are marked not good.
    """
    try:
        exact = pc.cast(column, pa.decimal128(18, 6))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _money_by_pattern(column)
    # Values up to 1e15 micro fit in the low 64 bits of the 128-bit little-endian integers.
    words = np.frombuffer(exact.buffers()[1], dtype=np.int64)[2 * exact.offset: 2 * (exact.offset + len(exact))]
    micro = words[0::2].copy()
    valid = exact.is_valid().to_numpy(zero_copy_only=False)
    good = valid & (micro >= 0) & (micro <= _MAX_MICRO)
    return pa.array(good), np.where(good, micro, 0)


def _money_by_pattern(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Plain decimal strings (`12`, `12.5`, `0.000001`) as micro-USDC; any other form is left unsure.

    For a block where arrow's cast refused some value: the other rows are still read fast.
    """
    pattern = r"^(?P<i>[0-9]{1,10})(?:\.(?P<f>[0-9]{1,6}))?$"
    good = pc.fill_null(pc.match_substring_regex(column, pattern), False).to_numpy(zero_copy_only=False)
    micro = np.zeros(len(column), dtype=np.int64)
    rows = np.flatnonzero(good)
    if len(rows):
        parts = pc.extract_regex(column.take(pa.array(rows)), pattern)
        whole = pc.cast(parts.field("i"), pa.int64()).to_numpy(zero_copy_only=False)
        fraction = pc.utf8_rpad(pc.fill_null(parts.field("f"), ""), width=6, padding="0")
        value = whole * MICRO_PER_USD + pc.cast(fraction, pa.int64()).to_numpy(zero_copy_only=False)
        micro[rows] = np.where(value <= _MAX_MICRO, value, 0)
        good[rows] = value <= _MAX_MICRO
    return pa.array(good), micro


_TS_WIDTH = 32  # "2026-11-26T03:00:00.123456+00:00", the form `format_utc` writes


def _times(column: pa.Array, *, optional: bool) -> tuple[pa.Array, np.ndarray]:
    """RFC 3339 strings with an offset as UTC datetimes; naive or odd forms are left unsure."""
    good, micros = _canonical_times(column)
    rest = np.flatnonzero(~good)
    if len(rest):
        subset = column.take(pa.array(rest))
        has_offset = pc.fill_null(pc.match_substring_regex(
            subset, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"), False)
        mask = has_offset.to_numpy(zero_copy_only=False)
        text = pd.Series(subset.to_pylist(), dtype=object).where(mask)
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        values = parsed.to_numpy(dtype="datetime64[us]")
        micros[rest] = values
        good[rest] = mask & ~np.isnat(values)
        if optional:
            good[rest] |= subset.is_null().to_numpy(zero_copy_only=False)
    return pa.array(good), micros


def _canonical_times(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The `format_utc` form (`…T03:00:00.123456+00:00`), parsed by arrow; other rows are marked not good."""
    n = len(column)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype="datetime64[us]")
    shaped = pc.and_(pc.equal(pc.utf8_length(column), _TS_WIDTH), pc.ends_with(column, "+00:00"))
    shaped = pc.fill_null(pc.and_(shaped, pc.equal(pc.utf8_slice_codeunits(column, 10, 11), "T")), False)
    good = shaped.to_numpy(zero_copy_only=False)
    everything = bool(good.all())
    subset = column if everything else column.filter(shaped)
    try:
        parsed = pc.cast(subset, pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:  # some value is out of range: the slower parse sorts out which
        return np.zeros(n, dtype=bool), np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    parsed = parsed.astype("datetime64[us]")
    if everything:
        return good, parsed
    micros = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    micros[good] = parsed
    return good, micros


def _to_frame(spec: _Spec, table: pa.Table, values: dict[str, Any], lines: pa.Array, ok: pa.Array) -> pd.DataFrame:
    data: dict[str, Any] = {}
    keep = ok.to_numpy(zero_copy_only=False)
    everything = bool(keep.all())  # the usual case: no filtering, no copies

    def rows(array: np.ndarray) -> np.ndarray:
        return array if everything else array[keep]

    def column(name: str) -> pa.ChunkedArray:
        return table.column(name) if everything else pc.filter(table.column(name), ok)

    for name in spec.columns:
        if name == "line":
            data[name] = rows(lines.to_numpy())
        elif name == "amount_micro":
            data[name] = rows(values["amount_micro"]).astype(np.int64, copy=False)
        elif name in _TIME_COLUMNS:
            data[name] = pd.DatetimeIndex(rows(values[name]), tz="UTC")
        elif name in _ENUMS:  # a few known values: categorical, one byte a row
            codes = pc.index_in(column(name), value_set=_ENUMS[name]).to_numpy(zero_copy_only=False)
            data[name] = pd.Categorical.from_codes(codes.astype(np.int8), categories=_ENUMS[name].to_pylist())
        else:
            data[name] = column(name).to_pandas()
    return pd.DataFrame(data, columns=list(spec.columns))


def _read_lines_slowly(
    spec: _Spec, lines: Iterable[Any], first_line: int, *, indexed: bool = False
) -> tuple[pd.DataFrame, list[BadLine]]:
    """The per-line validator of `jsonl.py` on each line: the reference verdict and reason."""
    rows: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    pairs = lines if indexed else enumerate(lines)
    for index, raw in pairs:
        number = first_line + int(index)
        try:
            record = validate_line(raw, spec.model)
        except BadLineError as exc:
            bad.append(BadLine(str(spec.path), number, str(exc)))
            continue
        row = {}
        for name in spec.columns:
            if name == "line":
                row[name] = number
            elif name == "amount_micro":
                row[name] = to_micro(record.amount_usd)
            else:
                row[name] = getattr(record, name, None)
        rows.append(row)
    return _typed(pd.DataFrame(rows, columns=list(spec.columns))), bad


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for name in _TIME_COLUMNS:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    for name in ("amount_micro", "line"):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    for name in frame.columns:
        if name in _ENUMS:
            frame[name] = pd.Categorical(frame[name], categories=_ENUMS[name].to_pylist())
        elif frame[name].dtype == object:
            frame[name] = frame[name].astype("str")
    return frame


def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return _typed(pd.DataFrame({name: pd.Series([], dtype=object) for name in columns}))
