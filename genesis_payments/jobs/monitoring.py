"""Monitor-alerts (§5): wallets below the low-balance threshold and vendors failing in a row.

A vendor's streak is the run of `failed` outcomes at the end of its history, in time order (file
order breaks ties between equal timestamps). Only outcomes count: `captured` is a success and
resets the streak, `failed` extends it; `authorized`, `settlement_pending`, `cancelled` and
`expired` say nothing about whether the vendor works, so they neither extend nor reset it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from genesis_payments.core.money import format_usd

MONITOR_KINDS = ("low_balance", "failure_streak", "budget_threshold")
_OUTCOMES = ("captured", "failed")


def failure_streaks(events: pd.DataFrame) -> dict[str, int]:
    """Each vendor's current run of consecutive failures (0 after a success)."""
    outcomes = events.loc[events["status"].isin(_OUTCOMES), ["vendor", "status", "ts", "line"]]
    if outcomes.empty:
        return {}
    outcomes = outcomes.sort_values(["ts", "line"], kind="stable")
    streaks: dict[str, int] = {}
    for vendor, statuses in outcomes.groupby("vendor", sort=True)["status"]:
        run = 0
        for status in reversed(statuses.to_list()):
            if status != "failed":
                break
            run += 1
        streaks[str(vendor)] = run
    return streaks


def failure_streak_findings(events: pd.DataFrame, threshold: int) -> list[dict[str, Any]]:
    """`failure_streak` findings: vendors whose current streak is `threshold` or more."""
    return [
        {"kind": "failure_streak", "vendor": vendor, "streak": streak}
        for vendor, streak in sorted(failure_streaks(events).items())
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
