"""Stale-payments from a checkpoint (§5, issue #15): read only what was appended since the last run.

The open state is the state machine's own (`PaymentBook`) for every payment seen — a terminal one
too, since a later event for it is an `invalid_transition` — plus, per payment, the agent, vendor
and amount of the event that brought it to its state (what a finding names), the findings of refused
events so far and the bad lines so far. A run folds the new lines into it and gives exactly the
findings, invalid transitions and bad lines a full rescan of the file would. A torn last line is
reported (as a rescan would) but left unread, so it is read whole once its writer finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import epoch_us
from genesis_payments.jobs.events_since import read_events_since
from genesis_payments.jobs.stale import stale_finding
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import STALE_KINDS, PaymentFold

READER = "stale-payments"
COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "valid_before", "line")


@dataclass
class StaleRun:
    findings: list[dict[str, Any]]
    invalid_transitions: list[dict[str, Any]]
    bad_lines: list[BadLine]
    scan: str  # "incremental" or "full"
    lines_read: int
    rescan_reason: str | None = None
    checkpoint: Checkpoint | None = None  # to save once the run has succeeded (`save_stale_checkpoint`)

    def run_info(self) -> dict[str, Any]:
        """What the report says about the run: which kind, how many lines, why it rescanned."""
        return {"scan": self.scan, "lines_read": self.lines_read, "rescan_reason": self.rescan_reason}


def stale_findings(fold: PaymentFold, now: datetime, stale_after_seconds: int) -> list[dict[str, Any]]:
    """The stale findings of the fold's open payments at `now` (as `stale_payment_findings` words them)."""
    now_us = epoch_us(now)
    codes, kinds, since = fold.book.stale(now_us, stale_after_seconds * 1_000_000)
    findings = [
        stale_finding(STALE_KINDS[kind], fold.ids[code], fold.agents[code], fold.vendors[code],
                      int(fold.amounts[code]), now_us - start, int(fold.book.valid_before_us[code]))
        for code, kind, start in zip(codes.tolist(), kinds.tolist(), since.tolist(), strict=True)
    ]
    findings.sort(key=lambda f: (-f["age_seconds"], f["payment_id"]))
    return findings


def run_stale_payments(settings: Settings, now: datetime, *, full: bool = False, save: bool = True) -> StaleRun:
    """The stale-payments findings at `now`, from the checkpoint when it is usable (`full`: rescan).
    The new checkpoint is written once the results are in (`save=False`: the caller saves it with
    `save_stale_checkpoint` after the rest of the run succeeded)."""
    read = read_events_since(settings, READER, COLUMNS, full=full)
    findings = stale_findings(read.fold, now, settings.stale_after_seconds)
    run = StaleRun(findings, read.invalid_transitions, read.bad_lines, read.scan, read.lines_read,
                   read.rescan_reason, read.checkpoint({}))
    if save:
        save_stale_checkpoint(settings, run)
    return run


def save_stale_checkpoint(settings: Settings, run: StaleRun) -> None:
    checkpoint_store(settings).save(READER, run.checkpoint)

