"""A block of `transactions.jsonl` lines as the exporter's event columns.

The reading and validation are `readers.read_block` (shared with the jobs' frames): pyarrow and
vectorised checks accept only the lines they are certain of, and the exact per-line validator of
`jsonl.validate_line` decides every other line. This module only shapes the validated columns into
what `payment_tally.PaymentTally` aggregates: times as int µs since the epoch, and only the fields
the metrics use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from genesis_payments.core.timestamps import epoch_us  # noqa: F401  (re-exported for the exporter)
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.readers import EVENT_SPEC, read_block

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
_SOURCES = {"ts_us": "ts", "valid_before_us": "valid_before"}
# Only the fields the metrics use are kept (every line is still validated as a whole record).
COLUMNS = [_SOURCES.get(name, name) for name in EVENT_SCHEMA.names]
_COLUMNS = COLUMNS


@dataclass
class BlockRead:
    """Validated events (tables with `EVENT_SCHEMA`, each in line order) and bad lines."""

    tables: list[pa.Table] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    lines: int = 0


def read_event_block(data: bytes, first_line: int, path: Path, end: int | None = None) -> BlockRead:
    """Parse the complete lines of `data[:end]` (it ends with `\\n`), numbered from `first_line`."""
    end = len(data) if end is None else end
    if not end:
        return BlockRead()
    read = read_block(EVENT_SPEC, data, first_line, path, end=end, columns=_COLUMNS)
    events = event_table(read.table)
    return BlockRead([events] if events.num_rows else [], read.bad_lines, read.lines)


def event_table(table: pa.Table) -> pa.Table:
    """Validated event columns (`readers.EVENT_SPEC`'s, at least `COLUMNS`) shaped as `EVENT_SCHEMA`."""
    columns = []
    for name in EVENT_SCHEMA.names:
        column = table.column(_SOURCES.get(name, name))
        # A UTC timestamp is µs since the epoch underneath: the cast only relabels the values.
        columns.append(column.cast(pa.int64()) if name in _SOURCES else column)
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)


_SAMPLE_LINE = (
    b'{"agent":"a","amount_usd":"1.5","chain":"eip155:8453","event_id":"e","payment_id":"p",'
    b'"status":"authorized","token":"USDC","ts":"2026-01-01T00:00:00.000000+00:00",'
    b'"valid_before":"2026-01-01T01:00:00.000000+00:00","vendor":"v"}\n'
)


def warm_up() -> BlockRead:
    """Read one line, so the readers' modules (pyarrow's JSON reader and compute kernels) are
    imported and loaded before the first scrape rather than during it. The exporter calls it when
    it starts."""
    return read_event_block(_SAMPLE_LINE, 1, Path("warm-up"))
