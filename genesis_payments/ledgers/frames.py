"""Ledgers as pandas frames for the jobs: money as int64 micro-USDC, times as UTC datetimes.

Each reader returns the frame of good rows (with the `line` each came from) and the bad lines.

The files can hold millions of lines, so they are read in blocks by `ledger_columns` (the fast
reading path shared with the exporter): the compiled pass of `flat_lines` takes the project's own
compact lines, pyarrow and vectorised checks the other lines they are certain of, and every other
line goes through the per-line validator of `jsonl.py`. So the verdict
and reason on every line are `read_jsonl`'s, and a bad line is never counted into money.

`columns=` selects the frame's columns; every line is still validated as a whole record, so the
bad lines reported do not depend on the columns asked for.

`id_codes=` (an `IdCodes` shared by the readers of one job) makes `payment_id` an Arrow dictionary
column of 4-byte codes instead of a string column: two frames read with the same `IdCodes` have
codes that name the same payments, and the earlier frame's dictionary is a prefix of the later one's.

Column types: ids and names are pandas strings (Arrow-backed), `status` and `kind` categoricals of
their allowed values, `amount_micro` and `line` int64, `ts`/`valid_before` `datetime64[us, UTC]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.core.errors import LedgerError
from genesis_payments.ledgers.id_codes import IdCodes
from genesis_payments.ledgers.jsonl import BadLine, validate_line
from genesis_payments.ledgers.ledger_columns import ENTRY_SPEC, EVENT_SPEC, ColumnsRead, RecordSpec, read_block

EVENT_COLUMNS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token",
    "amount_micro", "business_id", "intent_id", "valid_before", "line",
)
ENTRY_COLUMNS = ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind", "line")

_SMALL_BLOCK = 64 << 10  # a doubtful block this small is read line by line
BLOCK_BYTES = 8 << 20  # bounds the memory of one block's parse; bigger is not faster
_TIME_COLUMNS = ("ts", "valid_before")
_UTC_MICROS = pd.DatetimeTZDtype(unit="us", tz="UTC")
_ENUMS = {"status": list(EVENT_SPEC.enums["status"]), "kind": list(ENTRY_SPEC.enums["kind"])}
_NAT = np.iinfo(np.int64).min  # how numpy and pandas store NaT
_DTYPES = {"payment_id": np.int32, "status": np.int8, "kind": np.int8}  # the rest: int64


@dataclass
class FrameRead:
    frame: pd.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)


def read_payment_events_frame(
    path: Path, columns: Sequence[str] | None = None, id_codes: IdCodes | None = None
) -> FrameRead:
    """`transactions.jsonl` as a frame with the columns of `EVENT_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), EVENT_SPEC, EVENT_COLUMNS, columns, id_codes)


def read_finance_entries_frame(
    path: Path, columns: Sequence[str] | None = None, id_codes: IdCodes | None = None
) -> FrameRead:
    """`finance_ledger.jsonl` as a frame with the columns of `ENTRY_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), ENTRY_SPEC, ENTRY_COLUMNS, columns, id_codes)


def _read_frame(
    path: Path, spec: RecordSpec, all_columns: tuple[str, ...], columns: Sequence[str] | None,
    id_codes: IdCodes | None,
) -> FrameRead:
    wanted = tuple(all_columns if columns is None else columns)
    unknown = [c for c in wanted if c not in all_columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; choose from {list(all_columns)}")
    columns_read = _Columns(spec, wanted, id_codes, path.stat().st_size if path.exists() else 0)
    bad: list[BadLine] = []
    if path.exists():
        line = 1
        torn: list[bool] = []

        def take(reading: Future[ColumnsRead], block_bytes: int) -> None:
            """Add a block read with its lines numbered from 1: renumbered from `line` here, since
            how many lines came before is known only once the blocks before it are read."""
            nonlocal line
            read = reading.result()
            if line > 1:
                read = _renumbered(read, line - 1)
            if read.table.num_rows:
                columns_read.add(read.table, read.lines / block_bytes)
            bad.extend(read.bad_lines)
            line += read.lines

        try:
            # The next block is read while this one is turned into a frame (both free the GIL).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-read-ahead") as ahead:
                pending: tuple[Future[ColumnsRead], int] | None = None
                for data, end in _blocks(path, torn):
                    # `validate_line` and `_SMALL_BLOCK` are looked up here, so tests can watch or tune them.
                    upcoming = ahead.submit(read_block, spec, data, 1, path, end=end, validator=validate_line,
                                            small_block=_SMALL_BLOCK, columns=wanted)
                    if pending is not None:
                        take(*pending)
                    pending = upcoming, end
                if pending is not None:
                    take(*pending)
        except OSError as exc:
            raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
        if torn:
            bad.append(BadLine(str(path), line, "incomplete last line (no newline): a torn write"))
    return FrameRead(columns_read.frame(), bad)


def _blocks(path: Path, torn: list[bool]) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines as (data, end); a last line without its newline (a torn write) appends
    to `torn`.

    A block is not sliced (a copy of megabytes): it keeps its end, and the file is rewound to the
    start of the unfinished line for the next block.
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
            yield data, end


def _renumbered(read: ColumnsRead, before: int) -> ColumnsRead:
    table = read.table
    if "line" in table.column_names:
        lines = pc.add(table.column("line"), before)
        table = table.set_column(table.schema.get_field_index("line"), "line", lines)
    bad = [BadLine(b.file, b.line + before, b.reason) for b in read.bad_lines]
    return ColumnsRead(table, bad, read.lines)


class _Columns:
    """The frame's columns, filled block by block.

    A numeric column goes into one array that grows by doubling (first sized from the file's
    length), which the frame then takes as it is. Pieces per block joined at the end held two
    copies of every column at once, and thousands of pieces scattered between the blocks'
    freed buffers kept the allocator from giving those back: a third of the job's memory.
    """

    def __init__(self, spec: RecordSpec, names: Sequence[str], id_codes: IdCodes | None, file_bytes: int) -> None:
        self.spec, self.names, self.id_codes, self.file_bytes = spec, tuple(names), id_codes, file_bytes
        self.numbers: dict[str, _Growing] = {}
        self.strings: dict[str, list[pa.Array]] = {name: [] for name in self.names if _is_string(name, id_codes)}

    def add(self, table: pa.Table, lines_per_byte: float) -> None:
        if not self.numbers:
            # Room for the lines the file likely holds, a little over, so a file of lines alike never grows.
            rows = max(1024, int(self.file_bytes * lines_per_byte * 1.05))
            self.numbers = {name: _Growing(_DTYPES.get(name, np.int64), rows)
                            for name in self.names if name not in self.strings}
        for name in self.names:
            column = table.column(name)
            if name in self.strings:
                self.strings[name].extend(column.chunks)
            elif name == "payment_id":
                self.numbers[name].extend(self.id_codes.encode(column))  # type: ignore[union-attr]
            elif name in _ENUMS:  # a few known values: categorical, one byte a row (-1: absent)
                codes = pc.index_in(column, value_set=pa.array(_ENUMS[name])).fill_null(-1)
                self.numbers[name].extend(codes.to_numpy())
            elif name in _TIME_COLUMNS:  # µs since the epoch; an absent time is NaT
                self.numbers[name].extend(column.cast(pa.int64()).fill_null(_NAT).to_numpy())
            else:  # money as int micro-USDC, and line numbers: never absent
                self.numbers[name].extend(column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))

    def frame(self) -> pd.DataFrame:
        """The frame over the filled arrays (not copied)."""
        data = {name: self._column(name) for name in self.names}
        return pd.DataFrame(data, columns=list(self.names), copy=False)

    def _column(self, name: str) -> Any:
        if name in self.strings:
            return pa.chunked_array(self.strings[name], type=self.spec.schema.field(name).type).to_pandas()
        values = self.numbers[name].values() if self.numbers else np.zeros(0, dtype=_DTYPES.get(name, np.int64))
        if name == "payment_id":
            return self.id_codes.column(values)  # type: ignore[union-attr]
        if name in _TIME_COLUMNS:
            # Labelled UTC in place (`DatetimeIndex(..., tz=)` and `tz_localize` copy every value).
            return pd.Series(values, copy=False).astype(_UTC_MICROS)
        if name in _ENUMS:
            return pd.Categorical.from_codes(values, categories=_ENUMS[name])
        return values


class _Growing:
    """A numeric column in one array that doubles its room when full."""

    def __init__(self, dtype: Any, room: int) -> None:
        self._array = np.empty(room, dtype=dtype)
        self._size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self._size + len(values)
        if end > len(self._array):
            bigger = np.empty(max(end, 2 * len(self._array)), dtype=self._array.dtype)
            bigger[: self._size] = self._array[: self._size]
            self._array = bigger
        self._array[self._size: end] = values
        self._size = end

    def values(self) -> np.ndarray:
        return self._array[: self._size]


def _is_string(name: str, id_codes: IdCodes | None) -> bool:
    return name not in ("line", "amount_micro", *_TIME_COLUMNS, *_ENUMS) and not (
        name == "payment_id" and id_codes is not None)
