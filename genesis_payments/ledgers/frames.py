"""Ledgers as pandas frames for the jobs: money as int64 micro-USDC, times as UTC datetimes.

Each reader returns the frame of good rows (with the `line` each came from) and the bad lines, as
`readers.read_ledger` validated them: the verdict and reason on every line are `read_jsonl`'s, and
a bad line is never counted into money.

`columns=` selects the frame's columns; every line is still validated as a whole record, so the
bad lines reported do not depend on the columns asked for.

Column types: ids and names are pandas strings (Arrow-backed), `status` and `kind` categoricals of
their allowed values, `amount_micro` and `line` int64, `ts`/`valid_before` `datetime64[us, UTC]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.core.settings import Settings
from genesis_payments.ledgers import readers
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.readers import ENTRY_SPEC, EVENT_SPEC, RecordSpec
from genesis_payments.ledgers.sources import FileLedger, Ledger, finance_entries, payment_events

EVENT_COLUMNS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token",
    "amount_micro", "business_id", "intent_id", "valid_before", "line",
)
ENTRY_COLUMNS = ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind", "line")
_ENUMS = {"status": list(EVENT_SPEC.enums["status"]), "kind": list(ENTRY_SPEC.enums["kind"])}
_UTC_MICROS = pd.DatetimeTZDtype(unit="us", tz="UTC")


@dataclass
class FrameRead:
    frame: pd.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)


def read_payment_events_frame(path: Path, columns: Sequence[str] | None = None) -> FrameRead:
    """`transactions.jsonl` as a frame with the columns of `EVENT_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), EVENT_SPEC, EVENT_COLUMNS, columns)


def read_finance_entries_frame(path: Path, columns: Sequence[str] | None = None) -> FrameRead:
    """`finance_ledger.jsonl` as a frame with the columns of `ENTRY_COLUMNS` (or the `columns` asked for)."""
    return _read_frame(Path(path), ENTRY_SPEC, ENTRY_COLUMNS, columns)


def _read_frame(path: Path, spec: RecordSpec, all_columns: tuple[str, ...], columns: Sequence[str] | None
                ) -> FrameRead:
    wanted = tuple(all_columns if columns is None else columns)
    unknown = [c for c in wanted if c not in all_columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; choose from {list(all_columns)}")
    read = readers.read_ledger(path, spec, wanted, block_bytes=BLOCK_BYTES)
    return FrameRead(to_frame(read.table), read.bad_lines)


def payment_events_frame(settings: Settings, columns: Sequence[str] | None = None) -> FrameRead:
    """The payment events of the store in use (file or PostgreSQL) as `read_payment_events_frame`'s frame."""
    return _store_frame(payment_events(settings), EVENT_COLUMNS, columns)


def finance_entries_frame(settings: Settings, columns: Sequence[str] | None = None) -> FrameRead:
    """The finance entries of the store in use as `read_finance_entries_frame`'s frame."""
    return _store_frame(finance_entries(settings), ENTRY_COLUMNS, columns)


def _store_frame(ledger: Ledger, all_columns: tuple[str, ...], columns: Sequence[str] | None) -> FrameRead:
    if isinstance(ledger, FileLedger):  # the tuned block size of this module applies to files
        return _read_frame(ledger.path, ledger.spec, all_columns, columns)  # type: ignore[arg-type]
    wanted = tuple(all_columns if columns is None else columns)
    unknown = [c for c in wanted if c not in all_columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; choose from {list(all_columns)}")
    read = ledger.read(wanted)
    return FrameRead(to_frame(read.table), read.bad_lines)


BLOCK_BYTES = readers.BLOCK_BYTES  # a module setting, so tests can read in small blocks


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Validated ledger columns as a frame of the types above."""
    data = {}
    for name in table.column_names:
        column = table.column(name)
        if name in _ENUMS:  # codes found by Arrow: no Python string per row
            codes = pc.fill_null(pc.index_in(column, value_set=pa.array(_ENUMS[name])), -1)
            data[name] = pd.Categorical.from_codes(codes.to_numpy(), categories=_ENUMS[name])
        elif pa.types.is_timestamp(column.type):
            data[name] = column.to_pandas().astype(_UTC_MICROS)
        elif pa.types.is_string(column.type):
            # Over the read's own Arrow chunks: no copy of a million ids.
            data[name] = pd.Series(pd.arrays.ArrowStringArray(column) if column.num_chunks
                                   else pd.array([], dtype="string[pyarrow]"))
        else:
            data[name] = column.to_numpy()
    return pd.DataFrame(data, columns=list(table.column_names))
