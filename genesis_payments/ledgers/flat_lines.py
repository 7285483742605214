"""Flat JSON lines read and checked in one compiled pass: the ledger readers' fast path.

The project's writers put each record on one line as a flat object of string values with no
white space (`{"agent":"a-1","amount_usd":"1.5",…}`, see `jsonl.canonical_json`). A line of that
form is fully described by the positions of its quotes, so one pass over its bytes, in C
(`native/flat_lines.c`), finds every value and checks it in the canonical form of its field. Per
8 MB block of event lines, in CPU: ~18 ms with all 15 fields kept and their strings copied, ~11 ms
for the exporter's 9 columns (5 of them coded), against ~65 ms for pyarrow's general JSON parser
followed by the vectorised checks.

The pass only *accepts*, and only when certain that `json` plus the record's model would accept the
line with the same values (`FlatScan.ok`):
- every byte is printable ASCII and there is no backslash, so each `"` delimits a string and a
  value's bytes are its characters;
- the line is exactly `{"key":"value"}` or `{"key":"value","key":"value",…}`, with no space;
- every key is a field of the record (no extra fields), each at most once, every required one there;
- each value is in the canonical form of its field: an id of 1–256 characters, not all spaces; money
  `12` or `12.5` (at most 10 whole digits and 6 decimals, within `MAX_USD`); a timestamp
  `YYYY-MM-DDTHH:MM:SS[.ffffff](+00:00|Z)` that is a real date from year 1; a CAIP-2 chain id; one
  of an enumeration's values.
Any other line is left to the caller's general path, which gives the exact verdict; this module
never judges a line bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from genesis_payments.ledgers import native

ID, STR, TIME, USD, CAIP2, ENUM = range(6)  # the kinds of field the compiled pass checks
KINDS = {"id": ID, "opt_id": ID, "str": STR, "opt_str": STR, "time": TIME, "opt_time": TIME, "usd": USD,
         "caip2": CAIP2}


@dataclass(frozen=True)
class FlatRecord:
    """A record kind as the compiled pass needs it: per field its key, kind, whether it is required
    and, for an enumeration, its values (a value's code is its index)."""

    keys: tuple[str, ...]
    kinds: tuple[int, ...]
    required: tuple[bool, ...]
    enums: tuple[tuple[str, ...], ...]
    max_micro: int

    @cached_property
    def native(self) -> tuple[native.Record, tuple[np.ndarray, ...]]:
        """The tables as the compiled pass takes them, and the arrays they point into (to keep alive)."""
        key_bytes, key_lengths, key_field, kinds, required, enum_bytes, enum_lengths, enum_field = self.tables
        record = native.Record(
            native.address(key_bytes), key_bytes.shape[1], native.address(key_lengths), native.address(key_field),
            len(key_lengths), native.address(kinds), int(required), native.address(enum_bytes), enum_bytes.shape[1],
            native.address(enum_lengths), native.address(enum_field), len(enum_lengths), self.max_micro,
        )
        return record, self.tables

    @cached_property
    def tables(self) -> tuple[np.ndarray, ...]:
        if len(self.keys) > 62:  # which fields a line has is kept as bits of one int64
            raise ValueError(f"a flat record has at most 62 fields, not {len(self.keys)}")
        # Sorted as `canonical_json` writes them, so the next key is usually the next row.
        key_field = np.argsort(np.array(self.keys, dtype=object)).astype(np.int64)
        key_bytes, key_lengths = _byte_table([self.keys[k] for k in key_field])
        values = [value for enum in self.enums for value in enum]
        enum_bytes, enum_lengths = _byte_table(values or [""])
        # Per value of the enum table: its field and its code (its index among that field's values).
        pairs = [(k, code) for k, enum in enumerate(self.enums) for code in range(len(enum))]
        enum_field = np.array(pairs or [(-1, 0)], dtype=np.int64)
        required = sum(1 << k for k, needed in enumerate(self.required) if needed)
        return (key_bytes, key_lengths, key_field, np.array(self.kinds, dtype=np.int64), np.int64(required),
                enum_bytes, enum_lengths, enum_field)


@dataclass(frozen=True)
class FlatScan:
    """The lines of one block: where each ends, which were accepted, and each field's value.

    For each kept field k (`rows[k]`: its row in these arrays), `starts[rows[k], i]`/`ends[rows[k], i]`
    are the byte offsets in `data` of line i's value, without its quotes (-1 when absent);
    `numbers[rows[k], i]` is the value as a number where it has one: micro-USDC for money, µs since
    the Unix epoch for a timestamp, the code of an enumeration's value. Only rows where `ok` is
    true hold meaningful values. The string values of the fields asked for (`copy`) are kept for
    the accepted rows, in order: see `strings`; those of the fields `code` as codes into the
    block's distinct values: see `dictionary`.
    """

    line_ends: np.ndarray
    ok: np.ndarray
    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray
    copy: tuple[int, ...]
    copied: np.ndarray
    copied_offsets: np.ndarray
    code: tuple[int, ...]
    codes: np.ndarray
    dict_offsets: np.ndarray
    dict_bytes: np.ndarray
    dict_counts: np.ndarray

    def dictionary(self, field: int) -> pa.DictionaryArray:
        """Field `field` (one of `code`) of the accepted rows as int32 codes into its distinct values
        (null where absent), each value once, in order of first sight."""
        j = self.code.index(field)
        rows = int(np.count_nonzero(self.ok))
        distinct = int(self.dict_counts[j])
        offsets = self.dict_offsets[j, : distinct + 1].astype(np.int32)  # a block is far smaller than 2 GiB
        values = pa.Array.from_buffers(pa.string(), distinct, [None, pa.py_buffer(offsets),
                                                               pa.py_buffer(self.dict_bytes[j, : offsets[-1]].copy())])
        codes = self.codes[j, :rows].copy()
        indices = _with_nulls(pa.int32(), rows, codes >= 0, codes)
        return pa.DictionaryArray.from_arrays(indices, values)

    def strings(self, field: int) -> pa.Array:
        """Field `field` (one of `copy`) of the accepted rows as a string array (null where absent)."""
        j = self.copy.index(field)
        rows = int(np.count_nonzero(self.ok))
        # Copied out, so a column kept after the block holds its own bytes and not the block's buffers.
        offsets = self.copied_offsets[j, : rows + 1].copy()
        values = self.copied[j, : offsets[-1]].copy()
        return _with_nulls(pa.string(), rows, self.starts[self.rows[field], self.ok] >= 0, offsets, values)

    def numbers_of(self, field: int, type_: pa.DataType) -> pa.Array:
        """Field `field`'s numbers for the accepted rows as an arrow array of `type_` (null where absent)."""
        rows = self.ok if not self.ok.all() else slice(None)
        values = self.numbers[self.rows[field], rows].copy()  # not a view that would keep every field's numbers
        return _with_nulls(type_, len(values), self.starts[self.rows[field], rows] >= 0, values)


def scan(record: FlatRecord, data: bytes, start: int, end: int, *, max_line: int, copy: tuple[int, ...] = (),
         code: tuple[int, ...] = (), keep: tuple[int, ...] | None = None) -> FlatScan:
    """Read the complete lines of `data[start:end]` (each ends with `\\n`), keeping the values of
    the fields `keep` (all by default; every field is checked either way), the strings of the fields
    `copy`, and those of the fields `code` as codes (indexes into `record.keys`)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    lines = native.count_lines(data, start, end)
    kept = np.array(sorted(set(range(len(record.keys)) if keep is None else (*keep, *copy, *code))), dtype=np.int64)
    rows = np.full(len(record.keys), -1, dtype=np.int64)
    rows[kept] = np.arange(len(kept))
    line_ends = np.empty(lines, dtype=np.int64)
    ok = np.zeros(lines, dtype=np.bool_)
    # Written by the pass for every accepted line (absent values too); the other lines are never read.
    starts = np.empty((len(kept), lines), dtype=np.int32)  # a block is far smaller than 2 GiB
    ends = np.empty((len(kept), lines), dtype=np.int32)
    numbers = np.empty((len(kept), lines), dtype=np.int64)
    copy_fields = np.array(copy, dtype=np.int64)
    # At most the block's bytes per field; pages never written are never given memory.
    copied = np.empty((len(copy), max(end - start, 1)), dtype=np.uint8)
    copied_offsets = np.zeros((len(copy), lines + 1), dtype=np.int32)
    code_fields = np.array(code, dtype=np.int64)
    codes = np.empty((len(code), lines), dtype=np.int32)
    # More than 1.5 slots a line: at most two thirds full. Twice that made a 16 MB block's table
    # (40k lines) 512 KB, past the CPU's L2, whose misses cost more than longer probes do.
    slot_count = 1 << max(4, (lines + lines // 2).bit_length())
    slots = np.zeros((len(code), slot_count), dtype=np.int32)
    hashes = np.empty((len(code), max(lines, 1)), dtype=np.uint64)
    dict_offsets = np.zeros((len(code), lines + 1), dtype=np.int64)
    dict_bytes = np.empty((len(code), copied.shape[1]), dtype=np.uint8)
    dict_counts = np.zeros(len(code), dtype=np.int64)
    out = native.Scan(
        lines, native.address(line_ends), native.address(ok), native.address(rows), native.address(kept), len(kept),
        native.address(starts), native.address(ends),
        native.address(numbers), native.address(copy_fields), len(copy), native.address(copied), copied.shape[1],
        native.address(copied_offsets), native.address(code_fields), len(code), native.address(codes),
        native.address(slots), slot_count, native.address(hashes), native.address(dict_offsets),
        native.address(dict_bytes), native.address(dict_counts),
    )
    native.scan_lines(buffer, start, end, record.native[0], max_line, out)
    return FlatScan(line_ends, ok, rows, starts, ends, numbers, copy, copied, copied_offsets, code, codes, dict_offsets,
                    dict_bytes, dict_counts)


def _byte_table(words: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [word.encode("ascii") for word in words]
    table = np.zeros((len(encoded), max(1, *(len(e) for e in encoded))), dtype=np.uint8)
    for row, word in enumerate(encoded):
        table[row, : len(word)] = np.frombuffer(word, dtype=np.uint8)
    return table, np.array([len(e) for e in encoded], dtype=np.int64)


def _with_nulls(type_: pa.DataType, length: int, present: np.ndarray, *buffers: np.ndarray) -> pa.Array:
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(type_, length, [validity, *(pa.py_buffer(b) for b in buffers)])
