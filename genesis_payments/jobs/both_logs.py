"""A reader of both logs that goes on from its checkpoint (§5, issue #15): weekly-report and business-summary.

What it keeps is the state machine's book over every payment seen (`PaymentFold`: whether a later
event is accepted depends on it), the invalid transitions and bad lines of both logs so far, and
where both logs were read up to; each job adds its own aggregates (`LogsRead.checkpoint`). A read
hands over what was appended since (the events, already folded, and the decisions), and its bad
lines are those of a read of both whole files: the ones kept, then a torn last line of each log. A
truncated, replaced or rewritten file, another VERSION, or a checkpoint that cannot be read is
reported (`rescan_reason`) and answered by a read from the top. On PostgreSQL (§12) both logs are
tables, positions are `seq` marks and the checkpoint is a row of `job_checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.events_since import CheckpointedRead, fold_events_after, usable_checkpoint
from genesis_payments.ledgers.approval_log import open_approval_log
from genesis_payments.ledgers.checkpoints import Checkpoint, FilePosition, Position
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import PaymentFold
from genesis_payments.ledgers.sources import payment_events

_TORN_DECISION = "incomplete last line"  # `ApprovalLog.read_since`'s reason for a torn last line
_NOWHERE = FilePosition(0, 0, 0, 0, "")


@dataclass
class LogsRead(CheckpointedRead):
    fold: PaymentFold  # every payment so far; `fold.accepted`: which of `events` it took
    events: pd.DataFrame  # the events appended since the checkpoint (all of them on a full read)
    decisions: list[ApprovalDecision]  # likewise, the decisions
    invalid_transitions: list[dict[str, Any]]  # all so far
    bad_events: list[BadLine]  # kept ones (a torn last line is not kept: it may be completed)
    torn_events: list[BadLine]
    bad_decisions: list[BadLine]
    torn_decisions: list[BadLine]
    positions: dict[str, Position]  # where this read got to

    @property
    def bad_lines(self) -> list[BadLine]:
        """In the order of a read of both whole files: the transaction log's, then the approval log's."""
        return self.bad_events + self.torn_events + self.bad_decisions + self.torn_decisions

    def checkpoint(self, extra: dict[str, Any], sides: dict[str, pa.Table] | None = None) -> Checkpoint:
        """The checkpoint to save after this read, once the job has added the new lines to its own
        state (`extra`, `sides`): the fold, the positions and that state. The new lines are let go."""
        self.events, self.decisions = self.events.iloc[0:0], []
        return Checkpoint(self.fold.to_table(), self.positions, {
            **extra, "invalid_transitions": self.invalid_transitions,
            "bad_events": [b.to_dict() for b in self.bad_events],
            "bad_decisions": [b.to_dict() for b in self.bad_decisions]}, sides or {})


class ReadOfBothLogs:
    """What a job's run over both logs reports of its read (`read`: the `LogsRead` it made)."""

    read: LogsRead

    @property
    def invalid_transitions(self) -> list[dict[str, Any]]:
        return self.read.invalid_transitions

    @property
    def bad_lines(self) -> list[BadLine]:
        return self.read.bad_lines

    @property
    def scan(self) -> str:
        return self.read.scan

    @property
    def lines_read(self) -> int:
        return self.read.lines_read

    @property
    def rescan_reason(self) -> str | None:
        return self.read.rescan_reason

    def run_info(self) -> dict[str, Any]:
        return self.read.run_info()


def read_both_logs(settings: Settings, reader: str, columns: tuple[str, ...], *, full: bool = False) -> LogsRead:
    """What both logs gained since `reader`'s checkpoint, folded (`full`, or no usable checkpoint:
    both whole logs), on the store in use. `columns`: the payment events' columns the job needs
    (with the fold's)."""
    logs = {"transactions": payment_events(settings), "approval_log": open_approval_log(settings)}
    previous, reason = usable_checkpoint(settings, reader, logs, full=full)
    fold = PaymentFold.from_table(previous.table) if previous else PaymentFold()
    extra = previous.extra if previous else {"invalid_transitions": [], "bad_events": [], "bad_decisions": []}
    new = fold_events_after(logs["transactions"], columns, previous.positions["transactions"] if previous else None,
                            fold)
    log_start = previous.positions["approval_log"] if previous else _NOWHERE
    decisions, log_offset, log_lines = logs["approval_log"].read_since(log_start.offset, log_start.lines)
    torn_decisions = [b for b in decisions.bad_lines if b.reason.startswith(_TORN_DECISION)]
    return LogsRead(
        fold, new.events, decisions.records, extra["invalid_transitions"] + new.invalid_transitions,
        [BadLine(**b) for b in extra["bad_events"]] + new.bad, new.torn,
        [BadLine(**b) for b in extra["bad_decisions"]] + [
            b for b in decisions.bad_lines if not b.reason.startswith(_TORN_DECISION)], torn_decisions,
        {"transactions": new.position, "approval_log": logs["approval_log"].position(log_offset, log_lines)},
        previous=previous,
        lines_read=new.lines + (log_lines - log_start.lines) + len(torn_decisions),
        rescan_reason=reason)
