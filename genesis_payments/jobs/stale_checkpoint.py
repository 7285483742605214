"""Stale-payments from a checkpoint (§5, issue #15): read only what was appended since the last run.

The open state is the state machine's own (`PaymentBook`) for every payment seen — a terminal one
too, since a later event for it is an `invalid_transition` — plus, per payment, the agent, vendor
and amount of the event that brought it to its state (what a finding names), the findings of refused
events so far and the bad lines so far. A run folds the new lines into it and gives exactly the
findings, invalid transitions and bad lines a full rescan of the file would. A torn last line is
reported (as a rescan would) but left unread, so it is read whole once its writer finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import epoch_us
from genesis_payments.jobs.stale import stale_finding
from genesis_payments.ledgers.checkpoints import (
    Checkpoint,
    FilePosition,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.jsonl import BadLine
from genesis_payments.ledgers.payment_states import NO_TIME, STALE_KINDS, PaymentBook, column_status_codes
from genesis_payments.ledgers.readers import EVENT_SPEC, TORN, read_ledger

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


@dataclass
class PaymentFold:
    """The state machine's book over every payment seen, with what a finding names of each."""

    book: PaymentBook = field(default_factory=PaymentBook)
    ids: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    amounts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _codes: dict[str, int] = field(default_factory=dict)

    def apply(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Fold the frame's events (file order); the `invalid_transition` findings among them."""
        if frame.empty:
            return []
        pids = frame["payment_id"].astype(str).tolist()
        codes = np.array([self._code(pid) for pid in pids], dtype=np.int64)
        statuses = column_status_codes(frame["status"])
        fold = self.book.apply(codes, statuses, _micros(frame["ts"]), _micros(frame["valid_before"]))
        grown = len(self.ids) - len(self.agents)
        self.agents += [""] * grown
        self.vendors += [""] * grown
        self.amounts = np.concatenate([self.amounts, np.zeros(grown, dtype=np.int64)])
        agents, vendors = frame["agent"].astype(str).tolist(), frame["vendor"].astype(str).tolist()
        amounts = frame["amount_micro"].to_numpy()
        for code in np.unique(codes[fold.accepted]).tolist():
            row = int(self.book.row[code])
            self.agents[code], self.vendors[code] = agents[row], vendors[row]
            self.amounts[code] = amounts[row]
        lines = frame["line"].to_numpy()
        return [t.finding() for t in fold.invalid(lambda k: pids[k], statuses, lines)]

    def _code(self, pid: str) -> int:
        code = self._codes.get(pid)
        if code is None:
            code = self._codes[pid] = len(self.ids)
            self.ids.append(pid)
        return code

    def stale_findings(self, now: datetime, stale_after_seconds: int) -> list[dict[str, Any]]:
        now_us = epoch_us(now)
        codes, kinds, since = self.book.stale(now_us, stale_after_seconds * 1_000_000)
        findings = [
            stale_finding(STALE_KINDS[kind], self.ids[code], self.agents[code], self.vendors[code],
                          int(self.amounts[code]), now_us - start, int(self.book.valid_before_us[code]))
            for code, kind, start in zip(codes.tolist(), kinds.tolist(), since.tolist(), strict=True)
        ]
        findings.sort(key=lambda f: (-f["age_seconds"], f["payment_id"]))
        return findings

    def to_table(self) -> pa.Table:
        book = self.book
        return pa.table({
            "payment_id": pa.array(self.ids, pa.string()), "state": book.state,
            "first_authorized_us": book.first_authorized_us, "entered_us": book.entered_us,
            "valid_before_us": book.valid_before_us, "agent": pa.array(self.agents, pa.string()),
            "vendor": pa.array(self.vendors, pa.string()), "amount_micro": self.amounts,
        })

    @classmethod
    def from_table(cls, table: pa.Table) -> PaymentFold:
        fold = cls()
        fold.ids = table.column("payment_id").to_pylist()
        fold._codes = {pid: code for code, pid in enumerate(fold.ids)}
        fold.book.grow(len(fold.ids))
        fold.book.state = table.column("state").to_numpy().astype(np.int8)
        for name in ("first_authorized_us", "entered_us", "valid_before_us"):
            setattr(fold.book, name, table.column(name).to_numpy().astype(np.int64))
        fold.agents = table.column("agent").to_pylist()
        fold.vendors = table.column("vendor").to_pylist()
        fold.amounts = table.column("amount_micro").to_numpy().astype(np.int64)
        return fold


def run_stale_payments(settings: Settings, now: datetime, *, full: bool = False, save: bool = True) -> StaleRun:
    """The stale-payments findings at `now`, from the checkpoint when it is usable (`full`: rescan).
    The new checkpoint is written once the results are in (`save=False`: the caller saves it with
    `save_stale_checkpoint` after the rest of the run succeeded)."""
    path = settings.transactions_path
    where = checkpoint_path(settings.state_dir, READER)
    fold, invalid, bad, position, reason = PaymentFold(), [], [], None, None
    if full:
        reason = "a full rescan was asked for"
    else:
        checkpoint, reason = load_checkpoint(where)
        if checkpoint is not None:
            position = checkpoint.positions["transactions"]
            reason = position.changed(path)
            if reason is None:
                fold = PaymentFold.from_table(checkpoint.table)
                invalid = checkpoint.extra["invalid_transitions"]
                bad = [BadLine(**b) for b in checkpoint.extra["bad_lines"]]
            else:
                position = None
    start, before = (position.offset, position.lines) if position is not None else (0, 0)
    read = read_ledger(path, EVENT_SPEC, COLUMNS, start=start, first_line=before + 1)
    invalid = invalid + fold.apply(to_frame(read.table))
    kept = bad + [b for b in read.bad_lines if b.reason != TORN]
    torn = [b for b in read.bad_lines if b.reason == TORN]
    findings = fold.stale_findings(now, settings.stale_after_seconds)
    checkpoint = Checkpoint(
        fold.to_table(), {"transactions": FilePosition.of(path, read.end_offset, before + read.lines)},
        {"invalid_transitions": invalid, "bad_lines": [b.to_dict() for b in kept]})
    run = StaleRun(findings, invalid, kept + torn, "incremental" if position is not None else "full",
                   read.lines + len(torn), reason, checkpoint)
    if save:
        save_stale_checkpoint(settings, run)
    return run


def save_stale_checkpoint(settings: Settings, run: StaleRun) -> None:
    if run.checkpoint is not None:
        save_checkpoint(checkpoint_path(settings.state_dir, READER), run.checkpoint)


def _micros(times: pd.Series) -> np.ndarray:
    if not len(times):
        return np.zeros(0, dtype=np.int64)
    values = times.to_numpy(dtype="datetime64[us]").view(np.int64)
    return np.where(values == np.iinfo(np.int64).min, NO_TIME, values)
