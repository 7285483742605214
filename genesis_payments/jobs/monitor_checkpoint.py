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
from genesis_payments.jobs.events_since import read_events_since
from genesis_payments.jobs.monitoring import add_outcomes
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import VendorStreaks

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
    read = read_events_since(settings, READER, COLUMNS, full=full)
    streaks = VendorStreaks.from_dict(read.previous.extra["streaks"]) if read.previous else VendorStreaks()
    add_outcomes(streaks, read.events, read.fold)
    run = MonitorEvents(streaks.streaks(), read.invalid_transitions, read.bad_lines, read.scan, read.lines_read,
                        read.rescan_reason, read.checkpoint({"streaks": streaks.to_dict()}))
    if save:
        save_monitor_checkpoint(settings, run)
    return run


def save_monitor_checkpoint(settings: Settings, run: MonitorEvents) -> None:
    checkpoint_store(settings).save(READER, run.checkpoint)
