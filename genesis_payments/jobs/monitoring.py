"""Monitor-alerts (§5): wallets below the low-balance threshold and vendors failing in a row.

A vendor's streak is the state machine's (`ledgers.payment_states.VendorStreaks`, the exporter's
too): the accepted `failed` events after its latest accepted `captured`, in time order (file order
breaks ties). `authorized`, `settlement_pending`, `cancelled` and `expired` say nothing about
whether the vendor works, so they neither extend nor reset it; an event the state machine refuses
(a `failed` after a capture) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from genesis_payments.core.money import format_usd
from genesis_payments.ledgers.payment_states import STATE_CODES, FrameFold, VendorStreaks, fold_frame

MONITOR_KINDS = ("low_balance", "failure_streak", "budget_threshold")


def failure_streaks(events: pd.DataFrame, fold: FrameFold | None = None) -> dict[str, int]:
    """Each vendor's current run of consecutive failures (0 after a success)."""
    if events.empty:
        return {}
    streaks = VendorStreaks()
    add_outcomes(streaks, events, fold or fold_frame(events))
    return streaks.streaks()


def add_outcomes(streaks: VendorStreaks, events: pd.DataFrame, fold: Any) -> None:
    """The events' accepted `captured` and `failed` outcomes into `streaks`, in file order (`fold` is
    the state machine's fold of these events: a full read's, or a checkpointed run's)."""
    if events.empty:
        return
    captured, failed = STATE_CODES["captured"], STATE_CODES["failed"]
    rows = np.flatnonzero(fold.accepted & ((fold.statuses == captured) | (fold.statuses == failed)))
    outcomes = events.iloc[rows]
    vendor_codes, vendor_names = pd.factorize(outcomes["vendor"], sort=False)
    streaks.add(vendor_codes, [str(v) for v in vendor_names], _micros(outcomes["ts"]), outcomes["line"].to_numpy(),
                fold.statuses[rows] == failed)


def _micros(times: pd.Series) -> np.ndarray:
    return times.to_numpy(dtype="datetime64[us]").view(np.int64)


def failure_streak_findings(events: pd.DataFrame, threshold: int, fold: FrameFold | None = None
                            ) -> list[dict[str, Any]]:
    """`failure_streak` findings: vendors whose current streak is `threshold` or more."""
    return [
        {"kind": "failure_streak", "vendor": vendor, "streak": streak}
        for vendor, streak in sorted(failure_streaks(events, fold).items())
        if streak >= threshold
    ]


def low_balance_findings(balances: Mapping[str, Decimal], threshold: Decimal) -> list[dict[str, Any]]:
    """`low_balance` findings: agents whose wallet holds less than `threshold` USDC."""
    return [
        {"kind": "low_balance", "agent": agent, "balance_usd": format_usd(balance),
         "threshold_usd": format_usd(threshold)}
        for agent, balance in sorted(balances.items())
        if balance < threshold
    ]
