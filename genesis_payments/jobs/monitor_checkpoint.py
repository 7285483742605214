"""Monitor-alerts' reading of the transaction log from a checkpoint (§5, issue #15).

A vendor's failure streak depends on every accepted outcome ever (`VendorStreaks`: its latest
accepted `captured` and the accepted `failed` events after it, in time order), and whether an
outcome is accepted depends on its payment's state — so the open state kept is the state machine's
book over every payment seen (`PaymentFold`, as stale-payments keeps it) and the streak state, plus
the `invalid_transition` findings and bad lines so far. A run folds the new lines into both and
gives exactly the streaks, invalid transitions and bad lines a full read of the file gives. A torn
last line is reported as a full read reports it, and read whole once its writer has finished it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.monitoring import add_outcomes
from genesis_payments.ledgers.checkpoints import (
    Checkpoint,
    FilePosition,
    checkpoint_path,
    load_checkpoint,
    save_reader_checkpoint,
)
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import PaymentFold, VendorStreaks
from genesis_payments.ledgers.readers import EVENT_SPEC, TORN, read_ledger

READER = "monitor-alerts"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")


@dataclass
class MonitorEvents:
    streaks: dict[str, int]
    invalid_transitions: list[dict[str, Any]]
    bad_lines: list[BadLine]
    scan: str  # "incremental" or "full"
    lines_read: int
    rescan_reason: str | None = None
    checkpoint: Checkpoint | None = None

    def run_info(self) -> dict[str, Any]:
        return {"scan": self.scan, "lines_read": self.lines_read, "rescan_reason": self.rescan_reason}

    def streak_findings(self, threshold: int) -> list[dict[str, Any]]:
        """`failure_streak` findings (as `monitoring.failure_streak_findings` words them)."""
        return [{"kind": "failure_streak", "vendor": vendor, "streak": streak}
                for vendor, streak in sorted(self.streaks.items()) if streak >= threshold]


def read_monitor_events(settings: Settings, *, full: bool = False, save: bool = True) -> MonitorEvents:
    """Streaks, invalid transitions and bad lines of the transaction log, from the checkpoint when usable."""
    path = settings.transactions_path
    fold, streaks, invalid, bad, position, reason = PaymentFold(), VendorStreaks(), [], [], None, None
    if full:
        reason = "a full rescan was asked for"
    else:
        checkpoint, reason = load_checkpoint(checkpoint_path(settings.state_dir, READER))
        if checkpoint is not None:
            position = checkpoint.positions["transactions"]
            reason = position.changed(path)
            if reason is None:
                fold = PaymentFold.from_table(checkpoint.table)
                streaks = VendorStreaks.from_dict(checkpoint.extra["streaks"])
                invalid = checkpoint.extra["invalid_transitions"]
                bad = [BadLine(**b) for b in checkpoint.extra["bad_lines"]]
            else:
                position = None
    start, before = (position.offset, position.lines) if position is not None else (0, 0)
    read = read_ledger(path, EVENT_SPEC, COLUMNS, start=start, first_line=before + 1)
    frame = to_frame(read.table)
    invalid = invalid + fold.apply(frame)
    add_outcomes(streaks, frame, fold)
    kept = bad + [b for b in read.bad_lines if b.reason != TORN]
    torn = [b for b in read.bad_lines if b.reason == TORN]
    checkpoint = Checkpoint(
        fold.to_table(), {"transactions": FilePosition.of(path, read.end_offset, before + read.lines)},
        {"streaks": streaks.to_dict(), "invalid_transitions": invalid, "bad_lines": [b.to_dict() for b in kept]})
    run = MonitorEvents(streaks.streaks(), invalid, kept + torn, "incremental" if position is not None else "full",
                        read.lines + len(torn), reason, checkpoint)
    if save:
        save_monitor_checkpoint(settings, run)
    return run


def save_monitor_checkpoint(settings: Settings, run: MonitorEvents) -> None:
    save_reader_checkpoint(settings.state_dir, READER, run.checkpoint)
