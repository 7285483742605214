"""Business-summary from a checkpoint (§5, issue #15): a summary is read from a book kept run to run.

The checkpoint (`both_logs`: the state machine's book, invalid transitions and bad lines of both
logs, where both were read up to) adds `spend_summary.BusinessBook`: every business's captured
spend by vendor, agent and component and its intents' latest verdicts, each intent's first
component (a side table, as are the latest verdicts). A run adds what both logs gained and gives
exactly the summary, invalid transitions and bad lines of a read of both whole files
(`build_spend_summary`); a truncated, replaced or rewritten file, another VERSION, or a checkpoint
that cannot be read is reported and answered by a full read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from genesis_payments.core.records import SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.both_logs import LogsRead, ReadOfBothLogs, read_both_logs
from genesis_payments.jobs.spend_summary import EVENT_COLUMNS, BusinessBook
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store

READER = "business-summary"


@dataclass
class BusinessRun(ReadOfBothLogs):
    summary: SpendSummary
    read: LogsRead
    checkpoint: Checkpoint | None = None


def run_business_summary(settings: Settings, business_id: str, *, now: datetime | None = None, full: bool = False,
                         save: bool = True) -> BusinessRun:
    """The spend summary of `business_id` from the checkpoint when usable (`full`: both logs read again)."""
    read = read_both_logs(settings, READER, EVENT_COLUMNS, full=full)
    book = BusinessBook(read.previous.extra["business"], read.previous.sides) if read.previous else BusinessBook()
    book.add_decisions(read.decisions)  # before the events: a whole read knows every decision
    book.add_events(read.events, read.fold.accepted)
    run = BusinessRun(book.summary(business_id, now=now), read,
                      read.checkpoint({"business": book.to_extra()}, book.to_sides()))
    if save:
        save_business_checkpoint(settings, run)
    return run


def save_business_checkpoint(settings: Settings, run: BusinessRun) -> None:
    checkpoint_store(settings).save(READER, run.checkpoint)
