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
from genesis_payments.jobs.weekly import DayBook, decisions_frame
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.ledgers.checkpoints import (
    Checkpoint,
    FilePosition,
    checkpoint_path,
    load_checkpoint,
    save_reader_checkpoint,
)
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import PaymentFold
from genesis_payments.ledgers.readers import EVENT_SPEC, TORN, read_ledger

READER = "weekly-report"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")


@dataclass
class WeeklyRun:
    totals: dict[str, Any]
    invalid_transitions: list[dict[str, Any]]
    bad_lines: list[BadLine]
    scan: str  # "incremental" or "full"
    lines_read: int
    rescan_reason: str | None = None
    checkpoint: Checkpoint | None = None

    def run_info(self) -> dict[str, Any]:
        return {"scan": self.scan, "lines_read": self.lines_read, "rescan_reason": self.rescan_reason}


def run_weekly(settings: Settings, now: datetime, *, full: bool = False, save: bool = True) -> WeeklyRun:
    """The weekly totals at `now` from the checkpoint when usable (`full`: both logs read again)."""
    files = {"transactions": settings.transactions_path, "approval_log": settings.approval_log_path}
    fold, days, extra, positions, reason = PaymentFold(), DayBook(), None, None, None
    if full:
        reason = "a full rescan was asked for"
    else:
        checkpoint, reason = load_checkpoint(checkpoint_path(settings.state_dir, READER))
        if checkpoint is not None:
            reason = next((why for name, path in files.items()
                           if (why := checkpoint.positions[name].changed(path)) is not None), None)
            if reason is None:
                positions, extra = checkpoint.positions, checkpoint.extra
                fold, days = PaymentFold.from_table(checkpoint.table), DayBook(extra["days"])
    extra = extra or {"invalid_transitions": [], "bad_events": [], "bad_decisions": []}
    start = positions["transactions"] if positions else FilePosition(0, 0, 0, 0, "")
    read = read_ledger(files["transactions"], EVENT_SPEC, COLUMNS, start=start.offset, first_line=start.lines + 1)
    events = to_frame(read.table)
    invalid = extra["invalid_transitions"] + fold.apply(events)
    days.add_events(events, fold.accepted)
    log_start = positions["approval_log"] if positions else FilePosition(0, 0, 0, 0, "")
    decisions, log_offset, log_lines = ApprovalLog(settings).read_since(log_start.offset, log_start.lines)
    days.add_decisions(decisions_frame(decisions.records))
    bad_events = [BadLine(**b) for b in extra["bad_events"]] + [b for b in read.bad_lines if b.reason != TORN]
    torn_events = [b for b in read.bad_lines if b.reason == TORN]
    torn = "incomplete last line"
    bad_decisions = [BadLine(**b) for b in extra["bad_decisions"]] + [
        b for b in decisions.bad_lines if not b.reason.startswith(torn)]
    torn_decisions = [b for b in decisions.bad_lines if b.reason.startswith(torn)]
    checkpoint = Checkpoint(
        fold.to_table(),
        {"transactions": FilePosition.of(files["transactions"], read.end_offset, start.lines + read.lines),
         "approval_log": FilePosition.of(files["approval_log"], log_offset, log_lines)},
        {"days": days.to_dict(), "invalid_transitions": invalid, "bad_events": [b.to_dict() for b in bad_events],
         "bad_decisions": [b.to_dict() for b in bad_decisions]})
    lines = read.lines + len(torn_events) + (log_lines - log_start.lines) + len(torn_decisions)
    run = WeeklyRun(days.totals(now=now, days=settings.weekly_days), invalid,
                    bad_events + torn_events + bad_decisions + torn_decisions,
                    "incremental" if positions else "full", lines, reason, checkpoint)
    if save:
        save_weekly_checkpoint(settings, run)
    return run


def save_weekly_checkpoint(settings: Settings, run: WeeklyRun) -> None:
    save_reader_checkpoint(settings.state_dir, READER, run.checkpoint)
