"""A job's read of the payment events from its checkpoint (§5): stale-payments and monitor-alerts.

Both keep the state machine's book over every payment seen (`PaymentFold`: whether a later event is
accepted depends on it), the `invalid_transition` findings and bad lines so far, and where the
events were read up to; each adds its own state in the checkpoint's `extra`. A read folds what was
appended since into the book and splits the new bad lines: a torn last line is reported, as a full
read reports it, but not kept (its writer may still finish it, and it is then read whole). A
checkpoint that cannot be used (another VERSION, unreadable, its ledger truncated, replaced or
rewritten, made on the other store) is reported as `rescan_reason` and answered by a full read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.checkpoints import Checkpoint, Position, checkpoint_store
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import PaymentFold
from genesis_payments.ledgers.readers import TORN
from genesis_payments.ledgers.sources import payment_events


@dataclass(kw_only=True)
class CheckpointedRead:
    """What every read from a checkpoint reports: which kind it was, how much it read, and why it
    rescanned (a checkpoint that could not be used; None when it was used or there was none)."""

    previous: Checkpoint | None  # the checkpoint it went on from (None: a full read)
    lines_read: int
    rescan_reason: str | None

    @property
    def scan(self) -> str:
        return "incremental" if self.previous is not None else "full"

    def run_info(self) -> dict[str, Any]:
        return {"scan": self.scan, "lines_read": self.lines_read, "rescan_reason": self.rescan_reason}


@dataclass
class EventsRead(CheckpointedRead):
    fold: PaymentFold  # every payment so far, the new events folded in
    events: pd.DataFrame  # the events appended since the checkpoint (all of them on a full read)
    invalid_transitions: list[dict[str, Any]]  # all so far
    kept: list[BadLine]  # bad lines so far, a torn last line excepted
    torn: list[BadLine]
    position: Position  # where this read got to

    @property
    def bad_lines(self) -> list[BadLine]:
        return self.kept + self.torn

    def checkpoint(self, extra: dict[str, Any]) -> Checkpoint:
        """The checkpoint to save after this read, with the job's own state (`extra`)."""
        return Checkpoint(self.fold.to_table(), {"transactions": self.position}, {
            **extra, "invalid_transitions": self.invalid_transitions,
            "bad_lines": [b.to_dict() for b in self.kept]})


def usable_checkpoint(settings: Settings, reader: str, logs: Mapping[str, Any], *,
                      full: bool = False) -> tuple[Checkpoint | None, str | None]:
    """`reader`'s checkpoint when every log it names (`logs`: name -> ledger) still holds what it
    read; else None and why (None, None: there is none yet)."""
    if full:
        return None, "a full rescan was asked for"
    checkpoint, reason = checkpoint_store(settings).load(reader)
    if checkpoint is None:
        return None, reason
    reason = next((why for name, log in logs.items()
                   if (why := log.changed(checkpoint.positions[name])) is not None), None)
    return (checkpoint, None) if reason is None else (None, reason)


@dataclass
class NewEvents:
    events: pd.DataFrame  # the events read, folded
    invalid_transitions: list[dict[str, Any]]  # those the fold refused among them
    bad: list[BadLine]  # their bad lines, a torn last line excepted
    torn: list[BadLine]
    position: Position  # where the read got to
    lines: int  # lines read (a torn last line included)


def fold_events_after(ledger: Any, columns: Sequence[str], start: Position | None, fold: PaymentFold) -> NewEvents:
    """The payment events after `start` (None: from the top) folded into `fold`."""
    offset, before = (start.offset, start.lines) if start is not None else (0, 0)
    read = ledger.read(columns, start=offset, first_line=before + 1)
    events = to_frame(read.table)
    invalid = fold.apply(events)
    torn = [b for b in read.bad_lines if b.reason == TORN]
    return NewEvents(events, invalid, [b for b in read.bad_lines if b.reason != TORN], torn,
                     ledger.position(read.end_offset, before + read.lines), read.lines + len(torn))


def read_events_since(settings: Settings, reader: str, columns: Sequence[str], *, full: bool = False) -> EventsRead:
    """The payment events appended since `reader`'s checkpoint, folded (`full`: read them all)."""
    ledger = payment_events(settings)
    previous, reason = usable_checkpoint(settings, reader, {"transactions": ledger}, full=full)
    fold = PaymentFold.from_table(previous.table) if previous else PaymentFold()
    invalid = previous.extra["invalid_transitions"] if previous else []
    bad = [BadLine(**b) for b in previous.extra["bad_lines"]] if previous else []
    new = fold_events_after(ledger, columns, previous.positions["transactions"] if previous else None, fold)
    return EventsRead(fold, new.events, invalid + new.invalid_transitions, bad + new.bad, new.torn, new.position,
                      previous=previous, lines_read=new.lines, rescan_reason=reason)
