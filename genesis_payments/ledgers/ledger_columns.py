"""A block of ledger JSONL bytes → validated arrow columns and bad lines: the one fast reading path.

The jobs' frames (`frames.py`) and the exporter (`event_columns.py` → `event_tail.py`,
`payment_tally.py`) both read `transactions.jsonl` (and the jobs `finance_ledger.jsonl`) here.

Validating a million lines one pydantic model at a time takes most of a minute. Three tiers, each
of which only *accepts*, and only when it is certain:
1. `flat_lines`: the lines in this project's own compact form (a flat object of plain ASCII
   strings), read and checked in one compiled pass — a few ms per MB;
2. the lines it leaves: parsed with pyarrow and checked with vectorised kernels (the general path);
3. every line either tier doubts: the exact per-line validator.
In the general path a line is taken when it is a plain one-object line
(no byte pyarrow reads more leniently than `json`, see `_doubtful_lines`) and every field is in the
canonical form this project's writers produce (money `"12.5"`, timestamps
`…T03:00:00.123456+00:00` or `…Z`, ASCII ids). Every other line, and every piece pyarrow refuses,
is decided by the exact per-line validator (`jsonl.validate_line`), which gives the verdict and
reason `read_jsonl` gives. So a line the contract rejects is never accepted, a bad line is always
reported with its line number and reason, and none is counted into money.

Output columns (`ColumnsRead.table`, rows in line order): `line` (int64, 1-based), each string field
of the record as a string, `amount_micro` (int64 micro-USDC) for `amount_usd`, and each timestamp
field as `timestamp[us, UTC]`. Optional fields are null when absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from genesis_payments.core.money import MAX_USD, MICRO_PER_USD, to_micro
from genesis_payments.core.records import PAYMENT_STATUSES, FinanceEntry, PaymentEvent, Record
from genesis_payments.ledgers import flat_lines, native
from genesis_payments.ledgers.jsonl import MAX_NESTING, BadLine, BadLineError, validate_line

SMALL_BLOCK = 64 << 10  # a doubtful block this small is read line by line rather than halved again
# Lines longer than this go to the exact validator: it enforces the 1 MiB line cap and Python's
# 4300-digit integer limit, which pyarrow does not. Ledger lines are a few hundred bytes.
LONG_LINE = 4096
CODED = pa.dictionary(pa.int32(), pa.string())  # a string column given as codes (read_block's `coded`)
# Bytes after which pyarrow is more lenient than `json`: NaN/Infinity constants (pyarrow takes them in
# fields it does not type), `\u` escapes (lone surrogates). A line holding one is judged exactly.
_DOUBTFUL_TEXT = (b"NaN", b"Infinity", b"\\u")

_TS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?(\+00:00|Z)$"
_MONEY = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
_CAIP2 = r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"
_MAX_MICRO = int(MAX_USD) * MICRO_PER_USD
_UTC_US = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class RecordSpec:
    """One record kind: its model (the exact verdict) and the check of each JSON field.

    Kinds: id / opt_id (`records.Id`), str / opt_str, time / opt_time (`UtcTimestamp`), usd (`Usd`),
    caip2, and an enumeration given by `enums`. Mirrors the pydantic models of `records.py`.
    """

    model: type[Record]
    fields: dict[str, str]
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def parse_schema(self) -> pa.Schema:
        return pa.schema([(name, pa.string()) for name in self.fields])

    @cached_property
    def flat(self) -> flat_lines.FlatRecord:
        """This kind for the compiled pass of `flat_lines`."""
        return flat_lines.FlatRecord(
            keys=tuple(self.fields),
            kinds=tuple(flat_lines.KINDS.get(kind, flat_lines.ENUM) for kind in self.fields.values()),
            required=tuple(not kind.startswith("opt_") for kind in self.fields.values()),
            enums=tuple(self.enums.get(kind, ()) for kind in self.fields.values()),
            max_micro=_MAX_MICRO,
        )

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
        "event_id": "id", "ts": "time", "payment_id": "id", "status": "status", "agent": "id", "vendor": "id",
        "chain": "caip2", "token": "id", "amount_usd": "usd", "business_id": "opt_id", "intent_id": "opt_id",
        "idempotency_key": "opt_id", "tx_hash": "opt_str", "valid_before": "opt_time", "error": "opt_str",
    },
    {"status": PAYMENT_STATUSES},
)
ENTRY_SPEC = RecordSpec(
    FinanceEntry,
    {
        "entry_id": "id", "ts": "time", "payment_id": "id", "agent": "id", "vendor": "id",
        "amount_usd": "usd", "kind": "kind",
    },
    {"kind": ("debit", "refund")},
)

Validator = Callable[[bytes, type[Record]], Record]


@dataclass
class ColumnsRead:
    """The validated rows of a block (`spec.schema`, in line order), its bad lines and line count."""

    table: pa.Table
    bad_lines: list[BadLine]
    lines: int


def read_block(
    spec: RecordSpec, data: bytes, first_line: int, path: Path, *, start: int = 0, end: int | None = None,
    validator: Validator = validate_line, small_block: int = SMALL_BLOCK, columns: Sequence[str] | None = None,
    split: bool = True, coded: Sequence[str] = (),
) -> ColumnsRead:
    """Lines `data[start:end]` (complete lines, each ending in `\\n`), numbered from `first_line`.

    `columns` picks the output columns (names of `spec.schema`; all by default). Every line is
    validated as a whole record whichever columns are asked for. `split=False` reads the block in
    the calling thread, in one piece: for callers that already read several blocks at once, to
    whom pieces are only a join (a copy of every column) more.

    `coded` names string columns to give as `CODED` dictionary columns (int32 codes into the
    block's distinct values) rather than strings: for the few distinct agents, vendors or
    statuses of a million rows, the codes are what the caller would compute anyway, and in the
    compiled pass they cost less than copying the strings.
    """
    schema = spec.schema if columns is None else _selected(spec.schema, columns)
    # The line numbers are always read: they order the pieces and place the bad lines.
    with_lines = schema if "line" in schema.names else _selected(spec.schema, ["line", *schema.names])
    coded = tuple(coded)
    if any(with_lines.field(name).type != pa.string() for name in coded):
        raise ValueError(f"only string columns can be coded, not {list(coded)}")
    reader = _BlockReader(spec, Path(path), validator, small_block, with_lines, coded)
    block = _Block(data, start, len(data) if end is None else end)
    tables: list[pa.Table] = []
    bad: list[BadLine] = []
    if not split or block.end - block.start <= _PARALLEL_FROM:  # e.g. a scrape's few new lines
        count = reader.read(block, first_line, tables, bad)
    else:
        # Pieces read in worker threads (the compiled pass, pyarrow and its kernels free the GIL).
        pieces = _split(block, _PARSE_THREADS)
        firsts = np.cumsum([first_line] + [_line_count(piece) for piece in pieces[:-1]])
        parts = list(_pool().map(lambda job: reader.read_alone(*job), zip(pieces, firsts.tolist(), strict=True)))
        count = 0
        for piece_tables, piece_bad, piece_count in parts:
            tables += piece_tables
            bad += piece_bad
            count += piece_count
    tables = [_with_codes(t.select(with_lines.names), coded) for t in tables if t.num_rows]
    if not tables:
        table = _with_codes(with_lines.empty_table(), coded)
    elif len(tables) == 1:
        table = tables[0]
    else:
        table = pa.concat_tables(tables)
        lines = table.column("line").to_numpy()
        if not (np.diff(lines) > 0).all():
            table = table.sort_by("line")
    bad.sort(key=lambda b: b.line)
    return ColumnsRead(table.select(schema.names), bad, count)


def _with_codes(table: pa.Table, coded: tuple[str, ...]) -> pa.Table:
    """The `coded` columns of a table as dictionary columns (those read by the general path are
    still strings)."""
    for name in coded:
        index = table.schema.get_field_index(name)
        if table.schema.field(index).type != CODED:
            table = table.set_column(index, pa.field(name, CODED), pc.dictionary_encode(table.column(index)))
    return table


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
    schema: pa.Schema  # the output columns
    coded: tuple[str, ...] = ()  # string columns given as codes (see read_block)

    def read_alone(self, block: _Block, first_line: int) -> tuple[list[pa.Table], list[BadLine], int]:
        tables: list[pa.Table] = []
        bad: list[BadLine] = []
        count = self.read(block, first_line, tables, bad)
        return tables, bad, count

    def read(self, block: _Block, first_line: int, tables: list[pa.Table], bad: list[BadLine]) -> int:
        """Append the block's good rows to `tables` and its bad lines to `bad`; return its line count.

        The compiled pass of `flat_lines` takes the lines in this project's own form; the rest (another
        writer's spacing, extra fields, escapes, anything doubtful or bad) go the general way.
        """
        scan = flat_lines.scan(self.spec.flat, block.data, block.start, block.end, max_line=LONG_LINE,
                               copy=self._string_fields, code=self._coded_fields, keep=self._kept_fields)
        count = len(scan.line_ends)
        if scan.ok.all():
            if count:
                tables.append(self._flat_table(scan, None, first_line))
            return count
        others = np.flatnonzero(~scan.ok)
        if len(others) == count:
            return self._general(block, first_line, tables, bad)
        tables.append(self._flat_table(scan, np.flatnonzero(scan.ok), first_line))
        # The other lines, gathered into a block of their own and numbered back afterwards.
        line_starts = np.concatenate(([block.start], scan.line_ends[:-1] + 1))
        text = b"".join(block.data[line_starts[i]: scan.line_ends[i] + 1] for i in others.tolist())
        numbers = first_line + others
        some_tables: list[pa.Table] = []
        some_bad: list[BadLine] = []
        self._general(_Block(text, 0, len(text)), 0, some_tables, some_bad)
        for table in some_tables:
            lines = pa.array(numbers[table.column("line").to_numpy()])
            tables.append(table.set_column(table.schema.get_field_index("line"), "line", lines))
        bad.extend(BadLine(b.file, int(numbers[b.line]), b.reason) for b in some_bad)
        return count

    def _flat_table(self, scan: flat_lines.FlatScan, rows: np.ndarray | None, first_line: int) -> pa.Table:
        """The output columns of the accepted rows of a flat scan (`rows`: their indexes, or None
        when every row was accepted)."""
        rows = np.arange(len(scan.ok)) if rows is None else rows
        arrays = []
        fields = []
        for out in self.schema:
            name = out.name
            fields.append(pa.field(name, CODED) if name in self.coded else out)
            if name == "line":
                arrays.append(pa.array(first_line + rows))
            elif name in self.coded and self.spec.fields[name] in self.spec.enums:  # its code read by the pass
                codes = scan.numbers_of(self._field_index[name], pa.int64()).cast(pa.int32())
                values = pa.array(self.spec.enums[self.spec.fields[name]], pa.string())
                arrays.append(pa.DictionaryArray.from_arrays(codes, values))
            elif name in self.coded:
                arrays.append(scan.dictionary(self._field_index[name]))
            elif out.type == pa.string():
                arrays.append(scan.strings(self._field_index[name]))
            else:  # money as int micro-USDC, timestamps as µs since the epoch
                arrays.append(scan.numbers_of(self._field_index[name], out.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    @cached_property
    def _string_fields(self) -> tuple[int, ...]:
        return tuple(self._field_index[out.name] for out in self.schema
                     if out.type == pa.string() and out.name not in self.coded)

    @cached_property
    def _kept_fields(self) -> tuple[int, ...]:
        """The fields of the output columns: the only values the pass needs to keep."""
        return tuple(self._field_index[name] for name in self.schema.names if name != "line")

    @cached_property
    def _coded_fields(self) -> tuple[int, ...]:
        return tuple(self._field_index[name] for name in self.coded if self.spec.fields[name] not in self.spec.enums)

    @cached_property
    def _field_index(self) -> dict[str, int]:
        """Each field's index in the record, by its name and by its column's (money: `amount_micro`)."""
        index = {name: k for k, name in enumerate(self.spec.fields)}
        return {**index, "amount_micro": index["amount_usd"]}

    def _general(self, block: _Block, first_line: int, tables: list[pa.Table], bad: list[BadLine]) -> int:
        """pyarrow's parse and the vectorised checks, with the exact validator for doubtful lines."""
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
            # Narrow a doubtful block down by halves, so one bad line costs a few small exact reads.
            left = self._general(halves[0], first_line, tables, bad)
            return left + self._general(halves[1], first_line + left, tables, bad)
        table, nested = parsed
        if nested:
            doubtful |= _deeply_nested(block, ends)
        ok, columns = _validate(self.spec, table)
        ok &= ~doubtful
        lines_column = np.arange(first_line, first_line + count, dtype=np.int64)
        if ok.all():
            tables.append(_assemble(self.spec, lines_column, columns, None))
            return count
        keep = pa.array(ok)
        tables.append(_assemble(self.spec, lines_column[ok], columns, keep))
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
            tables.append(_table_from_records(self.spec, records))


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
    doubtful = (view[starts] != 0x7B) | (view[ends - 1] != 0x7D) | ((ends - starts) > LONG_LINE)
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


def _line_count(block: _Block) -> int:
    return native.count_lines(block.data, block.start, block.end)


def _parse(spec: RecordSpec, piece: _Block, count: int) -> tuple[pa.Table, bool] | None:
    """The piece's fields as string columns, one row per line, and whether some line holds a nested
    value (an object or a list); None when pyarrow refuses it. Parsed as a single chunk.

    Fields outside the record are inferred, not ignored: only then does pyarrow refuse a duplicate
    key among them (or inside a nested object), as `json` with the contract's reader does.
    """
    try:
        table = pajson.read_json(
            pa.BufferReader(piece.buffer()),
            read_options=pajson.ReadOptions(block_size=piece.end - piece.start + 1, use_threads=False),
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


def _split(block: _Block, pieces: int) -> list[_Block]:
    parts = [block]
    while len(parts) < pieces and parts[0].end - parts[0].start > SMALL_BLOCK:
        halves = [h for part in parts for h in (part.halves() or (part,))]
        if len(halves) == len(parts):
            break
        parts = halves
    return parts


_POOL: ThreadPoolExecutor | None = None
_PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))
_PARALLEL_FROM = 1 << 20  # smaller blocks are parsed in the calling thread


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_PARSE_THREADS, thread_name_prefix="ledger-parse")
    return _POOL


# ---------------------------------------------------------------------------------------------
# Vectorised checks: each marks the rows it is certain of; the rest go to the exact validator.


def _validate(spec: RecordSpec, table: pa.Table) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """A boolean per row (every check certain) and each output column, unfiltered."""
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    columns: dict[str, pa.Array] = {}
    ids: list[tuple[pa.Array, bool]] = []
    for name, kind in spec.fields.items():
        column = table.column(name).combine_chunks()
        columns[name] = column
        optional = kind.startswith("opt_")
        if kind in ("id", "opt_id"):
            ids.append((column, optional))  # all checked together below: fewer kernel calls
            continue
        if kind == "usd":
            good, columns["amount_micro"] = money_micro(column)
        elif kind in ("time", "opt_time"):
            good, columns[name] = utc_times(column)
        elif kind in spec.enums:
            good = pc.is_in(column, value_set=pa.array(spec.enums[kind]))
        elif kind == "caip2":
            good = pc.match_substring_regex(column, _CAIP2)
        else:  # str / opt_str: any string; pyarrow already refused other JSON types
            good = pc.is_valid(column)
        if optional:
            good = pc.or_kleene(pc.is_null(column), good)
        ok &= pc.fill_null(good, False).to_numpy(zero_copy_only=False)
    if ids and n:
        # The id columns end to end (no copy): one pass of each kernel, then a row of results per column.
        together = pa.chunked_array([column for column, _ in ids], pa.string())
        good = pc.fill_null(plain_ids(together), False).to_numpy(zero_copy_only=False).reshape(len(ids), n)
        absent = pc.is_null(together).to_numpy(zero_copy_only=False).reshape(len(ids), n)
        optional = np.array([opt for _, opt in ids])[:, None]
        ok &= (good | (absent & optional)).all(axis=0)
    return ok, columns


def plain_ids(column: pa.Array) -> pa.Array:
    """1 to 256 ASCII characters, not all white space: an `Id` under any regex engine.

    ASCII only, because "white space" differs between regex engines beyond it; other values go to
    the exact validator, which decides.
    """
    length = pc.binary_length(column)
    return pc.and_(
        pc.and_(pc.string_is_ascii(column), pc.invert(pc.ascii_is_space(column))),
        pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, 256)),
    )


def money_micro(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Plain money strings (`12`, `12.5`, `0.000001`) as int micro-USDC, and which rows were such and
    within the limit. Any other form (a JSON number never reaches here: pyarrow refuses it in a
    string column) is left to the exact validator."""
    shaped = pc.fill_null(pc.match_substring_regex(column, _MONEY), False)
    # At most 10 whole digits and 6 decimals (the pattern): exact in decimal128(18, 6), never refused.
    exact = pc.cast(pc.if_else(shaped, column, "0"), pa.decimal128(18, 6))
    # The unscaled value is micro-USDC; at most 1e16, so the low 64 bits of each little-endian
    # 128-bit integer hold it.
    words = np.frombuffer(exact.buffers()[1], dtype=np.int64)[2 * exact.offset: 2 * (exact.offset + len(exact))]
    micro = words[0::2].copy()
    return pc.and_(shaped, pa.array(micro <= _MAX_MICRO)), pa.array(micro)


def utc_times(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Canonical RFC 3339 UTC timestamps (`…T03:00:00[.123456]+00:00` or `Z`) as UTC instants, and
    which rows were canonical and real dates; other forms are left to the exact validator."""
    # Year 0 is not a Python date; arrow would take it.
    shaped = pc.and_(pc.match_substring_regex(column, _TS), pc.invert(pc.starts_with(column, "0000")))
    shaped = pc.fill_null(shaped, False)
    text = pc.if_else(shaped, column, "1970-01-01T00:00:00+00:00")
    try:
        return shaped, _null_where_absent(column, pc.cast(text, _UTC_US))
    except pa.ArrowInvalid:
        pass
    # Some well-shaped value is not a real date (30 February): row by row in C.
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


def _table_from_records(spec: RecordSpec, records: list[tuple[int, Record]]) -> pa.Table:
    data: dict[str, list[Any]] = {"line": [n for n, _ in records]}
    for name, kind in spec.fields.items():
        if kind == "usd":
            data["amount_micro"] = [to_micro(r.amount_usd) for _, r in records]  # type: ignore[attr-defined]
        else:
            data[name] = [getattr(r, name, None) for _, r in records]
    return pa.table(data, schema=spec.schema)
