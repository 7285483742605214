"""Ledger-sync (§5): captured payments against finance debits, both directions, exact money.

A pure function over two frames (from `frames.py`): payment events and finance entries. Whether a
payment was captured, and for how much, is the state machine's (`ledgers.payment_states`): its
events' allowed transitions in file order reach `captured`, and the amount is that event's. Each
payment id lands under one finding kind at most, checked in this order:

1. `missing_in_transactions` — ledger entries for a payment id with no event at all;
2. `debit_without_capture` — ledger entries for a payment whose events never reached `captured`;
3. `missing_in_ledger` — captured, but no debit;
4. `duplicate_entry` — captured, more than one debit (not also an `amount_mismatch`);
5. `amount_mismatch` — captured, one debit, and the ledger's amount net of refunds differs from
   the captured amount.

The ledger amount of a payment is its debits minus its refunds, so a correcting refund entry
reconciles. A payment with any event or entry newer than `now - grace` is left out entirely and
counted as deferred: the capture and its debit are written moments apart, and judging one side
without the other would report a discrepancy that is only in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.ledgers.payment_states import STATE_CODES, FrameFold, fold_frame

LEDGER_SYNC_KINDS = (
    "missing_in_ledger",
    "missing_in_transactions",
    "duplicate_entry",
    "debit_without_capture",
    "amount_mismatch",
)
EVENT_COLUMNS_NEEDED = ("payment_id", "status", "amount_micro", "ts", "line")
ENTRY_COLUMNS_NEEDED = ("payment_id", "kind", "amount_micro", "ts")


@dataclass
class Reconciliation:
    counts: dict[str, int]
    findings: list[dict[str, Any]]
    checked: dict[str, int] = field(default_factory=dict)
    invalid_transitions: list[dict[str, Any]] = field(default_factory=list)


def reconcile(events: pd.DataFrame, entries: pd.DataFrame, *, now: datetime, grace_seconds: int,
              fold: FrameFold | None = None) -> Reconciliation:
    """Every ledger-sync finding between the payment events and the finance entries (`fold`:
    `fold_frame(events)`, when the caller has it already)."""
    fold = fold or fold_frame(events)
    event_codes = fold.codes
    entry_codes, uniques = _entry_codes(fold.ids, entries["payment_id"])
    n = len(uniques)
    # Per payment code, each figure from its own helper, so a helper's row-sized temporaries are
    # gone before the next one's: a million payments' job stays small.
    captured_micro, captured = _capture(n, fold, events)
    debit_count, net_micro = _ledger_amounts(n, entry_codes, entries)
    payments = PaymentLedgers(
        latest_us=_latest_touch(n, (event_codes, events["ts"]), (entry_codes, entries["ts"])),
        has_event=_present(n, event_codes), captured=captured, captured_micro=captured_micro,
        has_entry=_present(n, entry_codes), debit_count=debit_count, net_micro=net_micro)
    return reconcile_payments(payments, uniques, now=now, grace_seconds=grace_seconds, events=len(events),
                              entries=len(entries), invalid_transitions=fold.findings())


@dataclass
class PaymentLedgers:
    """Per payment code, what ledger-sync judges it by: the latest time it was touched on either
    side, whether it has events, whether (and for how much) the state machine says it was captured,
    whether it has entries, its debits and its amount net of refunds."""

    latest_us: np.ndarray
    has_event: np.ndarray
    captured: np.ndarray
    captured_micro: np.ndarray
    has_entry: np.ndarray
    debit_count: np.ndarray
    net_micro: np.ndarray


def reconcile_payments(payments: PaymentLedgers, ids: Any, *, now: datetime, grace_seconds: int, events: int,
                       entries: int, invalid_transitions: list[dict[str, Any]]) -> Reconciliation:
    """The findings of the payments' figures (`ids[code]`: each one's id) — the batch job's and the
    checkpointed run's one rule."""
    cutoff = pd.Timestamp(now - timedelta(seconds=grace_seconds)).as_unit("us").asm8.view(np.int64)  # µs, UTC
    settled = payments.latest_us <= cutoff
    has_event, has_entry, captured = payments.has_event, payments.has_entry, payments.captured
    debit_count, net_micro, captured_micro = payments.debit_count, payments.net_micro, payments.captured_micro
    kind_masks = {
        "missing_in_transactions": settled & has_entry & ~has_event,
        "debit_without_capture": settled & has_entry & has_event & ~captured,
        "missing_in_ledger": settled & captured & (debit_count == 0),
        "duplicate_entry": settled & captured & (debit_count > 1),
        "amount_mismatch": settled & captured & (debit_count == 1) & (net_micro != captured_micro),
    }
    findings: list[dict[str, Any]] = []
    for kind, mask in kind_masks.items():
        for code in np.flatnonzero(mask):
            findings.append(_finding(kind, str(ids[int(code)]), int(captured_micro[code]),
                                     int(net_micro[code]), int(debit_count[code])))
    findings.sort(key=lambda f: (f["payment_id"], f["kind"]))
    checked = {
        "payments": int((settled & (has_event | has_entry)).sum()),
        "deferred_payments": int((~settled).sum()),
        "events": events,
        "entries": entries,
    }
    return Reconciliation({k: int(m.sum()) for k, m in kind_masks.items()}, findings, checked, invalid_transitions)


def _latest_touch(n: int, *sides: tuple[np.ndarray, pd.Series]) -> np.ndarray:
    """The latest time (µs since the epoch) of any row per code; the minimum int64 where a code has
    none, so that no time means no wait."""
    latest = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for codes, times in sides:
        if len(codes):
            np.maximum.at(latest, codes, _micros(times))
    return latest


def _present(n: int, codes: np.ndarray) -> np.ndarray:
    present = np.zeros(n, dtype=bool)
    present[codes] = True
    return present


def _capture(n: int, fold: FrameFold, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per code, the amount its payment was captured for (0 if it never was), and whether it was."""
    captured = np.zeros(n, dtype=bool)
    book = fold.book
    captured[: len(book)] = book.state == STATE_CODES["captured"]
    amounts = events["amount_micro"].to_numpy(dtype=np.int64)
    micro = np.zeros(n, dtype=np.int64)
    rows = book.row[captured[: len(book)]]
    micro[np.flatnonzero(captured)] = amounts[rows]
    return micro, captured


def _ledger_amounts(n: int, codes: np.ndarray, entries: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per code, its count of debits and its amount net of refunds (exact int64 sums: np.bincount's
    weights would go through float64)."""
    is_debit = (entries["kind"] == "debit").to_numpy(dtype=bool)
    debits = np.zeros(n, dtype=np.int32)
    np.add.at(debits, codes[is_debit], 1)
    signed = entries["amount_micro"].to_numpy(dtype=np.int64).copy()
    np.negative(signed, out=signed, where=~is_debit)
    net = np.zeros(n, dtype=np.int64)
    np.add.at(net, codes, signed)
    return debits, net


def _finding(kind: str, payment_id: str, captured_micro: int, ledger_micro: int, debits: int) -> dict[str, Any]:
    captured, ledger = format_usd(from_micro(captured_micro)), format_usd(from_micro(ledger_micro))
    if kind == "amount_mismatch":
        return {"kind": kind, "payment_id": payment_id, "transaction_amount_usd": captured,
                "ledger_amount_usd": ledger}
    if kind == "missing_in_ledger":
        return {"kind": kind, "payment_id": payment_id, "amount_usd": captured}
    finding = {"kind": kind, "payment_id": payment_id, "amount_usd": ledger}
    if kind == "duplicate_entry":
        finding.update(debits=debits, transaction_amount_usd=captured)
    return finding


def _entry_codes(event_ids: pd.Index, entry_ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """The entries' payment codes in the events' code space (ids with no event get new codes), and
    every id by code."""
    codes = event_ids.get_indexer(entry_ids) if len(entry_ids) else np.zeros(0, dtype=np.int64)
    unknown = codes < 0
    if not unknown.any():
        return codes, event_ids
    extra_codes, extra = pd.factorize(entry_ids[unknown], sort=False)
    codes[unknown] = len(event_ids) + extra_codes
    return codes, event_ids.append(pd.Index(extra))


def _micros(times: pd.Series) -> np.ndarray:
    """Times as int64 µs since the epoch (NaT as the minimum int64)."""
    return times.to_numpy(dtype="datetime64[us]").view(np.int64)
