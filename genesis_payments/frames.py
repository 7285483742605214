"""Ledgers as pandas frames for the jobs: money as int64 micro-USDC, times as UTC datetimes.

Each reader returns the frame of good rows (with the `line` each came from) and the bad lines.

The files can hold millions of lines, so they are read in blocks by `ledger_columns` (the fast
reading path shared with the exporter): pyarrow parses, vectorised checks accept the lines they are
certain of, and every other line goes through the per-line validator of `jsonl.py`. So the verdict
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

from genesis_payments.errors import LedgerError
from genesis_payments.id_codes import IdCodes
from genesis_payments.jsonl import BadLine, validate_line
from genesis_payments.ledger_columns import ENTRY_SPEC, EVENT_SPEC, ColumnsRead, RecordSpec, read_block

EVENT_COLUMNS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token",
    "amount_micro", "business_id", "intent_id", "valid_before", "line",
)
ENTRY_COLUMNS = ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind", "line")

_SMALL_BLOCK = 64 << 10  # a doubtful block this small is read line by line
BLOCK_BYTES = 8 << 20  # bounds the memory of one block's parse; bigger is not faster
_TIME_COLUMNS = ("ts", "valid_before")
_ENUMS = {"status": list(EVENT_SPEC.enums["status"]), "kind": list(ENTRY_SPEC.enums["kind"])}


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
    parts: dict[str, list[Any]] = {name: [] for name in wanted}  # each column's pieces, block by block
    bad: list[BadLine] = []
    if path.exists():
        line = 1
        torn: list[bool] = []

        def take(read: ColumnsRead) -> None:
            """Add a block read with its lines numbered from 1: renumbered from `line` here, since
            how many lines came before is known only once the blocks before it are read."""
            nonlocal line
            if line > 1:
                read = _renumbered(read, line - 1)
            if read.table.num_rows:
                _add_columns(parts, read.table, id_codes)
            bad.extend(read.bad_lines)
            line += read.lines

        try:
            # The next block is read while this one is turned into a frame (both free the GIL).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-read-ahead") as ahead:
                pending: Future[ColumnsRead] | None = None
                for data, end in _blocks(path, torn):
                    # `validate_line` and `_SMALL_BLOCK` are looked up here, so tests can watch or tune them.
                    upcoming = ahead.submit(read_block, spec, data, 1, path, end=end, validator=validate_line,
                                            small_block=_SMALL_BLOCK, columns=wanted)
                    if pending is not None:
                        take(pending.result())
                    pending = upcoming
                if pending is not None:
                    take(pending.result())
        except OSError as exc:
            raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
        if torn:
            bad.append(BadLine(str(path), line, "incomplete last line (no newline): a torn write"))
    return FrameRead(_frame(parts, spec, id_codes), bad)


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


def _add_columns(parts: dict[str, list[Any]], table: pa.Table, id_codes: IdCodes | None) -> None:
    """One block's columns, in the form they are joined in (numpy arrays, or arrow for strings)."""
    for name, pieces in parts.items():
        column = table.column(name)
        if name == "payment_id" and id_codes is not None:
            pieces.append(id_codes.encode(column))
        elif name in ("line", "amount_micro"):
            pieces.append(column.to_numpy())
        elif name in _TIME_COLUMNS:
            pieces.append(column.to_numpy().astype("datetime64[us]"))
        elif name in _ENUMS:  # a few known values: categorical, one byte a row
            codes = pc.index_in(column, value_set=pa.array(_ENUMS[name])).to_numpy(zero_copy_only=False)
            pieces.append(codes.astype(np.int8))
        else:
            pieces.extend(column.chunks)


def _frame(parts: dict[str, list[Any]], spec: RecordSpec, id_codes: IdCodes | None) -> pd.DataFrame:
    """The blocks' columns joined once into the frame (one copy of each column, no frame per block).

    With `id_codes`, `payment_id` holds the int32 codes as an Arrow dictionary column over the ids.
    """
    data: dict[str, Any] = {}
    for name, pieces in parts.items():
        if name in ("line", "amount_micro"):
            data[name] = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        elif name == "payment_id" and id_codes is not None:
            data[name] = id_codes.column(np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32))
        elif name in _TIME_COLUMNS:
            times = np.concatenate(pieces) if pieces else np.zeros(0, dtype="datetime64[us]")
            data[name] = pd.DatetimeIndex(times, tz="UTC")
        elif name in _ENUMS:
            codes = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int8)
            data[name] = pd.Categorical.from_codes(codes, categories=_ENUMS[name])
        else:
            data[name] = pa.chunked_array(pieces, type=spec.schema.field(name).type).to_pandas()
    return pd.DataFrame(data, columns=list(parts))
