"""Ledgers as pandas frames for the jobs: money as int64 micro-USDC, times as UTC datetimes.

Each reader returns the frame of good rows (with the `line` each came from) and the bad lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genesis_payments.jsonl import BadLine, read_jsonl
from genesis_payments.money import to_micro
from genesis_payments.records import FinanceEntry, PaymentEvent, Record

EVENT_COLUMNS = (
    "event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token",
    "amount_micro", "business_id", "intent_id", "valid_before", "line",
)
ENTRY_COLUMNS = ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind", "line")


@dataclass
class FrameRead:
    frame: pd.DataFrame
    bad_lines: list[BadLine] = field(default_factory=list)


def read_payment_events_frame(path: Path) -> FrameRead:
    """`transactions.jsonl` as a frame with the columns of `EVENT_COLUMNS`."""
    return _read_frame(path, PaymentEvent, EVENT_COLUMNS)


def read_finance_entries_frame(path: Path) -> FrameRead:
    """`finance_ledger.jsonl` as a frame with the columns of `ENTRY_COLUMNS`."""
    return _read_frame(path, FinanceEntry, ENTRY_COLUMNS)


def _read_frame(path: Path, model: type[Record], columns: tuple[str, ...]) -> FrameRead:
    # A record-by-record read that keeps line numbers; fast enough for demo-sized ledgers.
    result = read_jsonl(path, model)
    bad_numbers = {b.line for b in result.bad_lines}
    line_numbers = _good_line_numbers(len(result.records), bad_numbers)
    rows = []
    for number, record in zip(line_numbers, result.records, strict=True):
        row = {name: getattr(record, name, None) for name in columns if name not in ("amount_micro", "line")}
        row["amount_micro"] = to_micro(record.amount_usd)
        row["line"] = number
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(columns))
    for name in ("ts", "valid_before"):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["amount_micro"] = frame["amount_micro"].astype("int64")
    frame["line"] = frame["line"].astype("int64")
    return FrameRead(frame, result.bad_lines)


def _good_line_numbers(count: int, bad: set[int]) -> list[int]:
    numbers, line = [], 0
    while len(numbers) < count:
        line += 1
        if line not in bad:
            numbers.append(line)
    return numbers
