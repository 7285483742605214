"""Ledger-sync from a checkpoint (§5, issue #15): reconcile with only the lines appended since.

The state kept per payment is what `reconciliation.reconcile_payments` judges (latest touch, events
seen, debits, net amount) and the state machine's `PaymentFold` (whether, and for how much, it was
captured; a later event for a closed payment is still an `invalid_transition`). A run folds both
ledgers' new lines into it and gives exactly the findings, counts and bad lines a full run would.
If either file was truncated, replaced or rewritten, both are read again from the top. On
PostgreSQL the same code runs on the tables, from sequence high-water marks (`sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.reconciliation import PaymentLedgers, Reconciliation, reconcile_payments
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import NO_TIME, STATE_CODES, PaymentFold
from genesis_payments.ledgers.readers import TORN
from genesis_payments.ledgers.sources import finance_entries, payment_events

READER = "ledger-sync"
EVENT_COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")
ENTRY_COLUMNS = ("payment_id", "kind", "amount_micro", "ts", "line")
_FIGURES = ("latest_us", "has_event", "has_entry", "debit_count", "net_micro")


@dataclass
class SyncRun:
    result: Reconciliation
    bad_lines: list[BadLine]
    scan: str  # "incremental" or "full"
    lines_read: int
    rescan_reason: str | None = None
    checkpoint: Checkpoint | None = None

    def run_info(self) -> dict[str, Any]:
        return {"scan": self.scan, "lines_read": self.lines_read, "rescan_reason": self.rescan_reason}


def run_ledger_sync(settings: Settings, now: datetime, *, full: bool = False, save: bool = True) -> SyncRun:
    """Ledger-sync at `now` from the checkpoint when usable (`full`: both ledgers read again)."""
    ledgers = {"transactions": payment_events(settings), "finance_ledger": finance_entries(settings)}
    store = checkpoint_store(settings)
    fold, figures, extra, positions, reason = PaymentFold(), _no_figures(), _no_extra(), None, None
    if full:
        reason = "a full rescan was asked for"
    else:
        checkpoint, reason = store.load(READER)
        if checkpoint is not None:
            reason = next((why for name, ledger in ledgers.items()
                           if (why := ledger.changed(checkpoint.positions[name])) is not None), None)
            if reason is None:
                positions, extra = checkpoint.positions, checkpoint.extra
                fold = PaymentFold.from_table(checkpoint.table)
                figures = {name: checkpoint.table.column(name).to_numpy().copy() for name in _FIGURES}
    reads = {}
    for name, columns in (("transactions", EVENT_COLUMNS), ("finance_ledger", ENTRY_COLUMNS)):
        start, before = (positions[name].offset, positions[name].lines) if positions else (0, 0)
        reads[name] = (ledgers[name].read(columns, start=start, first_line=before + 1), before)
    events, entries = to_frame(reads["transactions"][0].table), to_frame(reads["finance_ledger"][0].table)
    invalid = extra["invalid_transitions"] + fold.apply(events)
    event_codes = fold.codes_of(events["payment_id"]) if len(events) else _none()
    entry_codes = fold.codes_of(entries["payment_id"]) if len(entries) else _none()
    fold.grow()
    figures = _grown(figures, len(fold.ids))
    _add(figures, event_codes, events, entry_codes, entries)
    captured = fold.book.state == STATE_CODES["captured"]
    payments = PaymentLedgers(figures["latest_us"], figures["has_event"], captured,
                              np.where(captured, fold.amounts, 0), figures["has_entry"], figures["debit_count"],
                              figures["net_micro"])
    counts = {"events": extra["events"] + len(events), "entries": extra["entries"] + len(entries)}
    result = reconcile_payments(payments, fold.ids, now=now, grace_seconds=settings.ledger_sync_grace_seconds,
                                invalid_transitions=invalid, **counts)
    kept = [BadLine(**b) for b in extra["bad_lines"]]
    for read, _ in reads.values():
        kept += [b for b in read.bad_lines if b.reason != TORN]
    torn = [b for read, _ in reads.values() for b in read.bad_lines if b.reason == TORN]
    table = fold.to_table()
    for name in _FIGURES:
        table = table.append_column(name, pa.array(figures[name]))
    new_positions = {name: ledgers[name].position(read.end_offset, before + read.lines)
                     for name, (read, before) in reads.items()}
    checkpoint = Checkpoint(table, new_positions, {"invalid_transitions": invalid, **counts,
                                                   "bad_lines": [b.to_dict() for b in kept]})
    run = SyncRun(result, sorted(kept + torn, key=_file_order), "incremental" if positions else "full",
                  sum(read.lines for read, _ in reads.values()) + len(torn), reason, checkpoint)
    if save:
        save_ledger_sync_checkpoint(settings, run)
    return run


def save_ledger_sync_checkpoint(settings: Settings, run: SyncRun) -> None:
    checkpoint_store(settings).save(READER, run.checkpoint)


def _file_order(bad: BadLine) -> tuple[bool, int]:
    """The transactions' bad lines first, then the finance ledger's (as a full run lists them)."""
    return (not bad.file.endswith("transactions.jsonl"), bad.line)


def _no_figures() -> dict[str, np.ndarray]:
    return {"latest_us": np.zeros(0, np.int64), "has_event": np.zeros(0, bool), "has_entry": np.zeros(0, bool),
            "debit_count": np.zeros(0, np.int64), "net_micro": np.zeros(0, np.int64)}


def _no_extra() -> dict[str, Any]:
    return {"invalid_transitions": [], "bad_lines": [], "events": 0, "entries": 0}


def _none() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _grown(figures: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    extra = n - len(figures["latest_us"])
    if extra <= 0:
        return figures
    fill = {"latest_us": NO_TIME}
    return {name: np.concatenate([values, np.full(extra, fill.get(name, 0), dtype=values.dtype)])
            for name, values in figures.items()}


def _add(figures: dict[str, np.ndarray], event_codes: np.ndarray, events: Any, entry_codes: np.ndarray,
         entries: Any) -> None:
    """The new rows' part of each figure (as `reconcile` computes it over the whole ledgers)."""
    for codes, frame in ((event_codes, events), (entry_codes, entries)):
        if len(codes):
            np.maximum.at(figures["latest_us"], codes, frame["ts"].to_numpy(dtype="datetime64[us]").view(np.int64))
    figures["has_event"][event_codes] = True
    figures["has_entry"][entry_codes] = True
    if len(entry_codes):
        is_debit = (entries["kind"] == "debit").to_numpy(dtype=bool)
        np.add.at(figures["debit_count"], entry_codes[is_debit], 1)
        amounts = entries["amount_micro"].to_numpy(dtype=np.int64)
        np.add.at(figures["net_micro"], entry_codes, np.where(is_debit, amounts, -amounts))
