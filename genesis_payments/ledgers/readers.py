"""The ledgers read in bulk: pyarrow parses and checks, the exact validator decides every doubt.

Validating a million lines one pydantic model at a time takes most of a minute, so a block of
lines is parsed by pyarrow's JSON reader and checked with its vectorised kernels. Those only ever
*accept*, and only when certain: a line is taken when it is a plain one-object line (no byte
pyarrow reads more leniently than `json`, see `_doubtful_lines`) and every field is in the plain
form this project writes, checked with the patterns and limits of `core.money`, `core.timestamps`
and `core.records`. Every other line, and every block pyarrow refuses (narrowed down by halves), is
decided by the exact per-line validator (`jsonl.validate_line` and the pydantic records), which
gives the verdict and reason `read_jsonl` gives. So a line the contract rejects is never accepted,
a bad line is always reported with its file, line number and reason, and none is counted as money.

Output columns (`ColumnsRead.table`, rows in line order): `line` (int64, 1-based), each string field
as a string, `amount_micro` (int64 micro-USDC) for `amount_usd`, each timestamp field as
`timestamp[us, UTC]`. Optional fields are null when absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.money import MAX_MICRO, PLAIN_CHARGE_PATTERN, to_micro
from genesis_payments.core.records import CAIP2_PATTERN, PAYMENT_STATUSES, FinanceEntry, PaymentEvent, Record
from genesis_payments.core.timestamps import CANONICAL_UTC_PATTERN, NOT_A_YEAR
from genesis_payments.ledgers.jsonl import MAX_NESTING, BadLine, BadLineError, validate_line

BLOCK_BYTES = 8 << 20  # bounds the memory of one block's parse; bigger is not faster
SMALL_BLOCK = 64 << 10  # a refused block this small is read line by line rather than halved again
# Lines longer than this go to the exact validator: it enforces the 1 MiB line cap and Python's
# 4300-digit integer limit, which pyarrow does not. Ledger lines are a few hundred bytes.
LONG_LINE = 4096
# Bytes after which pyarrow is more lenient than `json`: NaN/Infinity constants (pyarrow takes them in
# fields it does not type), `\u` escapes (lone surrogates). A line holding one is judged exactly.
_DOUBTFUL_TEXT = (b"NaN", b"Infinity", b"\\u")
_UTC_US = pa.timestamp("us", tz="UTC")
TORN = "incomplete last line (no newline): a torn write"


@dataclass(frozen=True)
class RecordSpec:
    """One record kind: its model (the exact verdict) and the kind of each field pyarrow checks.

    Kinds: id / opt_id (`records.Id`), vendor_id (`records.VendorId`), str / opt_str, time /
    opt_time (`UtcTimestamp`), usd (`Usd`), caip2 (`records.Caip2`), and an enumeration named in
    `enums`. The model decides any line these checks are not certain of, so a kind here may only be
    stricter than the model, never looser.
    """

    model: type[Record]
    fields: dict[str, str]
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def parse_schema(self) -> pa.Schema:
        return pa.schema([(name, pa.string()) for name in self.fields])

    @cached_property
    def schema(self) -> pa.Schema:
        """The validated columns: `line`, then each field (money as `amount_micro`)."""
        columns = [pa.field("line", pa.int64())]
        for name, kind in self.fields.items():
            if kind == "usd":
                columns.append(pa.field("amount_micro", pa.int64()))
            elif kind in ("time", "opt_time"):
                columns.append(pa.field(name, _UTC_US))
            else:
                columns.append(pa.field(name, pa.string()))
        return pa.schema(columns)


EVENT_SPEC = RecordSpec(
    PaymentEvent,
    {
        "event_id": "id", "ts": "time", "payment_id": "id", "status": "status", "agent": "id", "vendor": "vendor_id",
        "chain": "caip2", "token": "id", "amount_usd": "usd", "business_id": "opt_id", "intent_id": "opt_id",
        "idempotency_key": "opt_id", "tx_hash": "opt_str", "valid_before": "opt_time", "error": "opt_str",
    },
    {"status": PAYMENT_STATUSES},
)
ENTRY_SPEC = RecordSpec(
    FinanceEntry,
    {
        "entry_id": "id", "ts": "time", "payment_id": "id", "agent": "id", "vendor": "vendor_id",
        "amount_usd": "usd", "kind": "kind",
    },
    {"kind": ("debit", "refund")},
)

Validator = Callable[[bytes, type[Record]], Record]


@dataclass
class ColumnsRead:
    """The validated rows (`spec.schema` or the columns asked for, in line order), the bad lines,
    and how many lines were read."""

    table: pa.Table
    bad_lines: list[BadLine]
    lines: int


@dataclass
class LedgerRead(ColumnsRead):
    """A whole file (or what followed an offset): also the offset just past its last complete line."""

    end_offset: int = 0


def read_ledger(
    path: Path, spec: RecordSpec, columns: Sequence[str] | None = None, *, start: int = 0, first_line: int = 1,
    torn_is_bad: bool = True, block_bytes: int | None = None,
) -> LedgerRead:
    """Every complete line of `path` from byte `start` (line `first_line`), validated.

    A last line without its newline is a torn write: reported as a bad line (`torn_is_bad`, the
    jobs) or left unread for a later call (the exporter's tail, where it may be a write in progress).
    A missing file reads as empty.
    """
    path = Path(path)
    schema = _selected(spec.schema, ["line", *(c for c in (columns or spec.schema.names) if c != "line")])
    tables: list[pa.Table] = []
    bad: list[BadLine] = []
    line, offset = first_line, start
    if path.exists():
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                for data, cut in whole_line_blocks(handle, block_bytes or BLOCK_BYTES):
                    if cut == 0:
                        if torn_is_bad:
                            bad.append(BadLine(str(path), line, TORN))
                        break
                    read = read_block(spec, data, line, path, end=cut, columns=schema.names)
                    if read.table.num_rows:
                        tables.append(read.table)
                    bad.extend(read.bad_lines)
                    line += read.lines
                    offset += cut
        except OSError as exc:
            raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    wanted = [c for c in (columns or spec.schema.names)]
    return LedgerRead(table.select(wanted), bad, line - first_line, offset)


def whole_line_blocks(handle: Any, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(data, cut): blocks whose first `cut` bytes are whole lines; the file is rewound to the start
    of the unfinished line for the next block. A last `cut` of 0 means a torn last line remains."""
    while True:
        data = handle.read(block_bytes)
        if not data:
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) == block_bytes:  # one line longer than a block: take all of it
            data += handle.readline()
            cut = data.rfind(b"\n") + 1
        if cut < len(data):
            handle.seek(cut - len(data), os.SEEK_CUR)
        yield data, cut
        if cut == 0:
            return


def read_block(
    spec: RecordSpec, data: bytes, first_line: int, path: Path, *, start: int = 0, end: int | None = None,
    validator: Validator | None = None, small_block: int | None = None, columns: Sequence[str] | None = None,
) -> ColumnsRead:
    """Lines `data[start:end]` (complete lines, each ending in `\\n`), numbered from `first_line`.

    `columns` picks the output columns (names of `spec.schema`; all by default). Every line is
    validated as a whole record whichever columns are asked for.
    """
    schema = spec.schema if columns is None else _selected(spec.schema, columns)
    # The module's validator and halving floor are looked up here, so tests can watch or tune them.
    reader = _BlockReader(spec, Path(path), validator or validate_line, small_block or SMALL_BLOCK)
    tables: list[pa.Table] = []
    bad: list[BadLine] = []
    count = reader.read(_Block(data, start, len(data) if end is None else end), first_line, tables, bad)
    tables = [t for t in tables if t.num_rows]
    if not tables:
        table = spec.schema.empty_table()
    elif len(tables) == 1:
        table = tables[0]
    else:
        table = pa.concat_tables(tables)
        if not (np.diff(table.column("line").to_numpy()) > 0).all():
            table = table.sort_by("line")
    bad.sort(key=lambda b: b.line)
    return ColumnsRead(table.select(schema.names), bad, count)


def _selected(schema: pa.Schema, columns: Sequence[str]) -> pa.Schema:
    unknown = [name for name in columns if name not in schema.names]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; choose from {schema.names}")
    return pa.schema([schema.field(name) for name in columns])


@dataclass
class _Block:
    """Bytes `start:end` of `data`: whole lines, looked at without copying them."""

    data: bytes
    start: int
    end: int

    def view(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint8, count=self.end - self.start, offset=self.start)

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


@dataclass
class _BlockReader:
    spec: RecordSpec
    path: Path
    validator: Validator
    small_block: int

    def read(self, block: _Block, first_line: int, tables: list[pa.Table], bad: list[BadLine]) -> int:
        """Append the block's good rows to `tables` and its bad lines to `bad`; return its line count."""
        view = block.view()
        ends = np.flatnonzero(view == 0x0A)
        count = len(ends)
        if not count:
            return 0
        doubtful = _doubtful_lines(block, view, ends)
        if doubtful.all():
            self._exactly(block.lines(), range(count), first_line, tables, bad)
            return count
        source = block
        if doubtful.any():
            # A stand-in `{}` for each doubtful line keeps the rows aligned with the lines.
            lines = block.lines()
            text = b"\n".join(b"{}" if d else raw for raw, d in zip(lines, doubtful, strict=True)) + b"\n"
            source = _Block(text, 0, len(text))
        parsed = _parse(self.spec, source, count)
        if parsed is None:
            halves = block.halves() if block.end - block.start > self.small_block else None
            if halves is None:
                self._exactly(block.lines(), range(count), first_line, tables, bad)
                return count
            # Narrow a refused block down by halves, so one bad line costs a few small exact reads.
            left = self.read(halves[0], first_line, tables, bad)
            return left + self.read(halves[1], first_line + left, tables, bad)
        table, nested = parsed
        if nested:
            doubtful |= _deeply_nested(block, ends)
        ok, columns = _validate(self.spec, table)
        ok &= ~doubtful
        lines_column = np.arange(first_line, first_line + count, dtype=np.int64)
        if ok.all():
            tables.append(_assemble(self.spec, lines_column, columns, None))
            return count
        tables.append(_assemble(self.spec, lines_column[ok], columns, pa.array(ok)))
        unsure = np.flatnonzero(~ok)
        raw_lines = block.lines()
        self._exactly([raw_lines[i] for i in unsure], unsure, first_line, tables, bad)
        return count

    def _exactly(
        self, lines: list[bytes], indexes: Iterable[Any], first_line: int, tables: list[pa.Table], bad: list[BadLine]
    ) -> None:
        """The exact per-line validator on each line: the reference verdict and reason."""
        records: list[tuple[int, Record]] = []
        for raw, index in zip(lines, indexes, strict=True):
            number = first_line + int(index)
            try:
                records.append((number, self.validator(raw, self.spec.model)))
            except BadLineError as exc:
                bad.append(BadLine(str(self.path), number, str(exc)))
        if records:
            tables.append(table_from_records(self.spec, records))


def _doubtful_lines(block: _Block, view: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines pyarrow might read differently from `json`; the exact validator judges them.

    A line must open with `{` and close with `}` (so blank, whitespace-only, BOM-prefixed and CRLF
    lines, and a JSON `null` — which crashes pyarrow 26 as a chunk's first value — are doubtful), be
    at most `LONG_LINE` bytes, hold no byte sequence of `_DOUBTFUL_TEXT`, and be valid UTF-8
    (pyarrow does not check inside strings). Two objects on one line are caught afterwards by the
    row count, duplicate keys by pyarrow's parse, deep nesting by `_deeply_nested`.
    """
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    # An empty line's start is its own newline: never `{`, so it is doubtful without looking further.
    doubtful = (view[starts] != 0x7B) | (view[np.maximum(ends - 1, 0)] != 0x7D) | ((ends - starts) > LONG_LINE)
    data, lo, hi = block.data, block.start, block.end

    def mark(offsets: Iterable[int]) -> None:
        positions = np.fromiter(offsets, dtype=np.int64)
        if len(positions):
            doubtful[np.searchsorted(ends, positions)] = True

    for needle in _DOUBTFUL_TEXT:
        if data.find(needle[:1], lo, hi) >= 0:  # one byte is found far faster than a word
            mark(_occurrences(data, needle, lo, hi))
    if not data[lo:hi].isascii():
        try:
            data[lo:hi].decode("utf-8")
        except UnicodeDecodeError:
            mark(np.flatnonzero(view >= 0x80))
    return doubtful


def _deeply_nested(block: _Block, ends: np.ndarray) -> np.ndarray:
    """Lines with more brackets than the per-line reader's nesting limit (it decides them: pyarrow
    parses any depth). Only looked for when pyarrow found a nested value in some line."""
    view = block.view()
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    brackets = ((view == 0x7B) | (view == 0x5B)).view(np.uint8)
    return np.add.reduceat(brackets, starts, dtype=np.int64) > MAX_NESTING


def _occurrences(data: bytes, needle: bytes, lo: int, hi: int) -> Iterable[int]:
    at = data.find(needle, lo, hi)
    while at >= 0:
        yield at - lo
        at = data.find(needle, at + 1, hi)


def _parse(spec: RecordSpec, piece: _Block, count: int) -> tuple[pa.Table, bool] | None:
    """The piece's fields as string columns, one row per line, and whether some line holds a nested
    value (an object or a list); None when pyarrow refuses it.

    Fields outside the record are inferred, not ignored: only then does pyarrow refuse a duplicate
    key among them (or inside a nested object), as `json` with the contract's reader does. pyarrow
    parses the piece's chunks on its own threads, rows kept in line order.
    """
    try:
        table = pajson.read_json(
            pa.BufferReader(piece.buffer()),
            read_options=pajson.ReadOptions(block_size=1 << 20, use_threads=True),
            parse_options=pajson.ParseOptions(explicit_schema=spec.parse_schema, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    if table.num_rows != count:  # two objects on one line: row numbers would be off
        return None
    nested = any(pa.types.is_nested(f.type) for f in table.schema)  # known fields are strings
    if table.num_columns != len(spec.fields):
        table = table.select(list(spec.fields))
    return table, nested


# ---------------------------------------------------------------------------------------------
# Vectorised checks: each marks the rows it is certain of; the rest go to the exact validator.


def _validate(spec: RecordSpec, table: pa.Table) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """A boolean per row (every check certain) and each output column, unfiltered."""
    ok = np.ones(table.num_rows, dtype=bool)
    columns: dict[str, pa.Array] = {}
    for name, kind in spec.fields.items():
        column = table.column(name).combine_chunks()
        columns[name] = column
        if kind in ("id", "opt_id"):
            good = plain_ids(column)
        elif kind == "vendor_id":
            good = plain_ids(column, PLAIN_VENDOR_ID_PATTERN)
        elif kind == "usd":
            good, columns["amount_micro"] = money_micro(column)
        elif kind in ("time", "opt_time"):
            good, columns[name] = utc_times(column)
        elif kind in spec.enums:
            good = pc.is_in(column, value_set=pa.array(spec.enums[kind]))
        elif kind == "caip2":
            good = pc.match_substring_regex(column, CAIP2_PATTERN)
        else:  # str / opt_str: any string; pyarrow already refused other JSON types
            good = pc.is_valid(column)
        if kind.startswith("opt_"):
            good = pc.or_kleene(pc.is_null(column), good)
        ok &= pc.fill_null(good, False).to_numpy(zero_copy_only=False)
    return ok, columns


def plain_ids(column: pa.Array, pattern: str | None = None) -> pa.Array:
    """1 to 256 printable ASCII characters, not all white space: an `Id` (a `VendorId` with
    `PLAIN_VENDOR_ID_PATTERN`) under any regex engine.

    ASCII only, because "white space" differs between regex engines beyond it; other values go to
    the exact validator, which decides.
    """
    length = pc.binary_length(column)
    # Printable ASCII without '/' or '\\' (records.Id; a vendor may hold '/'): anything else is left to
    # the exact validator, which applies the one id rule.
    printable = pc.match_substring_regex(column, pattern or PLAIN_ID_PATTERN)
    return pc.and_(
        pc.and_(printable, pc.invert(pc.ascii_is_space(column))),
        pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, 256)),
    )


PLAIN_ID_PATTERN = r"^[\x20-\x2e\x30-\x5b\x5d-\x7e]+$"  # printable ASCII but 0x2f (/) and 0x5c (\\)
PLAIN_VENDOR_ID_PATTERN = r"^[\x20-\x5b\x5d-\x7e]+$"  # printable ASCII but 0x5c (\\)


def money_micro(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Plain money strings (`money.PLAIN_CHARGE_PATTERN`) as int micro-USDC, and which rows were such
    and within `money.MAX_MICRO`. Any other form (a JSON number never reaches here: pyarrow refuses it
    in a string column) is left to the exact validator."""
    shaped = pc.fill_null(pc.match_substring_regex(column, PLAIN_CHARGE_PATTERN), False)
    # At most 10 whole digits and 6 decimals (the pattern): exact in decimal128(18, 6), never refused.
    exact = pc.cast(pc.if_else(shaped, column, "0"), pa.decimal128(18, 6))
    # The unscaled value is micro-USDC: the same number as the decimal's, through Arrow's own cast.
    micro = pc.cast(pc.multiply_checked(exact, pa.scalar(1_000_000, pa.decimal128(7, 0))), pa.int64())
    return pc.and_(shaped, pc.less_equal(micro, MAX_MICRO)), micro


def utc_times(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Canonical RFC 3339 UTC timestamps (`timestamps.CANONICAL_UTC_PATTERN`) as UTC instants, and
    which rows were canonical and real dates; other forms are left to the exact validator."""
    shaped = pc.and_(pc.match_substring_regex(column, CANONICAL_UTC_PATTERN),
                     pc.invert(pc.starts_with(column, NOT_A_YEAR)))
    shaped = pc.fill_null(shaped, False)
    text = pc.if_else(shaped, column, "1970-01-01T00:00:00+00:00")
    try:
        return shaped, _null_where_absent(column, pc.cast(text, _UTC_US))
    except pa.ArrowInvalid:
        pass
    # Some well-shaped value is not a real date (30 February): each parsed, failures null.
    seconds_text = pc.utf8_slice_codeunits(text, 0, 19)
    seconds = pc.strptime(seconds_text, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime rolls 30 February over into March; formatting it back catches that.
    real = pc.fill_null(pc.equal(pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S"), seconds_text), False)
    has_fraction = pc.equal(pc.utf8_slice_codeunits(text, 19, 20), ".")
    fraction = pc.cast(pc.if_else(has_fraction, pc.utf8_slice_codeunits(text, 20, 26), "0"), pa.int64())
    us = pc.add(pc.multiply(pc.fill_null(pc.cast(seconds, pa.int64()), 0), 1_000_000), fraction)
    return pc.and_(shaped, real), _null_where_absent(column, pc.cast(us, _UTC_US))


def _null_where_absent(column: pa.Array, times: pa.Array) -> pa.Array:
    """An optional timestamp that is absent (null) stays null."""
    return times if not column.null_count else pc.if_else(pc.is_valid(column), times, pa.scalar(None, _UTC_US))


def _assemble(spec: RecordSpec, lines: np.ndarray, columns: dict[str, pa.Array], keep: pa.Array | None) -> pa.Table:
    arrays = [pa.array(lines)]
    for out in spec.schema.names[1:]:
        column = columns[out]
        arrays.append(column if keep is None else column.filter(keep))
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def table_from_records(spec: RecordSpec, records: list[tuple[int, Record]]) -> pa.Table:
    """Validated records (with their line numbers) as the columns a read of their lines gives."""
    data: dict[str, list[Any]] = {"line": [n for n, _ in records]}
    for name, kind in spec.fields.items():
        if kind == "usd":
            data["amount_micro"] = [to_micro(r.amount_usd) for _, r in records]  # type: ignore[attr-defined]
        else:
            data[name] = [getattr(r, name, None) for _, r in records]
    return pa.table(data, schema=spec.schema)
