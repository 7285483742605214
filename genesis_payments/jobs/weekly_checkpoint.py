"""Weekly-report from a checkpoint (§5, issue #15): its windows are sums of per-day aggregates.

The checkpoint keeps the state machine's book over every payment seen (whether a later event is
accepted, so whether it is spend or a failure, depends on it), the per-day aggregates of
`weekly.DayBook` (captured spend and captures per agent and vendor, failures, decisions by verdict),
the invalid transitions and bad lines of both logs so far, and where both logs were read up to. A
run adds what was appended and gives exactly the totals, invalid transitions and bad lines of a run
over both whole files; a truncated, replaced or rewritten file, another VERSION, or a checkpoint that
cannot be read is reported and answered by a full read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.both_logs import LogsRead, ReadOfBothLogs, read_both_logs
from genesis_payments.jobs.weekly import DayBook, decisions_frame
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store

READER = "weekly-report"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")


@dataclass
class WeeklyRun(ReadOfBothLogs):
    totals: dict[str, Any]
    read: LogsRead
    checkpoint: Checkpoint | None = None


def run_weekly(settings: Settings, now: datetime, *, full: bool = False, save: bool = True) -> WeeklyRun:
    """The weekly totals at `now` from the checkpoint when usable (`full`: both logs read again)."""
    read = read_both_logs(settings, READER, COLUMNS, full=full)
    days = DayBook(read.previous.extra["days"]) if read.previous else DayBook()
    days.add_events(read.events, read.fold.accepted)
    days.add_decisions(decisions_frame(read.decisions))
    run = WeeklyRun(days.totals(now=now, days=settings.weekly_days), read, read.checkpoint({"days": days.to_dict()}))
    if save:
        save_weekly_checkpoint(settings, run)
    return run


def save_weekly_checkpoint(settings: Settings, run: WeeklyRun) -> None:
    checkpoint_store(settings).save(READER, run.checkpoint)
