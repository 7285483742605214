"""Weekly-report (§5): the last complete UTC days against the same number of days before them.

The window is the `days` whole UTC days before the run's UTC day (a run on a Monday covers the
Monday to Sunday before it), compared with the `days` days before that. Spend is captured money,
counted once per payment on the day of its capture; approvals and denials come from the approval
log (a review's resolution is a decision of its own, on the day it was made); failures are
`failed` payment events. Captures and failures are the state machine's accepted transitions
(`ledgers.payment_states`): an event it refuses is neither spend nor a failure.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.ledgers.payment_states import FrameFold, fold_frame

TOP_VENDORS = 5


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, 00:00 UTC
    end: datetime  # exclusive, 00:00 UTC of the run's day

    @property
    def days(self) -> list[date]:
        return [(self.start + timedelta(days=i)).date() for i in range((self.end - self.start).days)]


def weekly_windows(now: datetime, days: int = 7) -> tuple[Window, Window]:
    """(current, previous): the complete UTC days before `now`'s UTC day, and the ones before them."""
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    current = Window(today - timedelta(days=days), today)
    previous = Window(current.start - timedelta(days=days), current.start)
    return current, previous


def weekly_totals(
    events: pd.DataFrame, decisions: pd.DataFrame, *, now: datetime, days: int = 7, fold: FrameFold | None = None
) -> dict[str, Any]:
    """The `totals` object of the weekly report (money as strings, change in % or None)."""
    book = DayBook()
    book.add_events(events, (fold or fold_frame(events)).accepted if len(events) else np.zeros(0, dtype=bool))
    book.add_decisions(decisions)
    return book.totals(now=now, days=days)


class DayBook:
    """Per UTC day: captured spend and captures per (agent, vendor), failures, and decisions by
    verdict. Every window of whole days is a sum of its days, so the weekly report of a run is the
    same whether the days were added from a whole read or run after run from a checkpoint."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {"spend": {}, "failures": {}, "decisions": {}}
        # day → "agent\x1fvendor" → [micro, captures]; day → failures; day → decision → count
        self.spend: dict[str, dict[str, list[int]]] = data["spend"]
        self.failures: dict[str, int] = data["failures"]
        self.decisions: dict[str, dict[str, int]] = data["decisions"]

    def to_dict(self) -> dict[str, Any]:
        return {"spend": self.spend, "failures": self.failures, "decisions": self.decisions}

    def add_events(self, events: pd.DataFrame, accepted: np.ndarray) -> None:
        """Events (a frame of `COLUMNS`) and which of them the state machine accepted."""
        if not len(events):
            return
        taken = events[accepted]
        day = taken["ts"].dt.strftime("%Y-%m-%d")
        captures = taken["status"] == "captured"  # one per payment: `captured` is terminal
        grouped = taken[captures].groupby([day[captures], taken["agent"][captures], taken["vendor"][captures]],
                                          observed=True)["amount_micro"].agg(["sum", "size"])
        for (d, agent, vendor), (micro, n) in grouped.iterrows():
            cell = self.spend.setdefault(str(d), {}).setdefault(f"{agent}\x1f{vendor}", [0, 0])
            cell[0] += int(micro)
            cell[1] += int(n)
        for d, n in day[taken["status"] == "failed"].value_counts().items():
            self.failures[str(d)] = self.failures.get(str(d), 0) + int(n)

    def add_decisions(self, decisions: pd.DataFrame) -> None:
        """Decisions (`decisions_frame`)."""
        if not len(decisions):
            return
        day = decisions["ts"].dt.strftime("%Y-%m-%d")
        for (d, verdict), n in decisions.groupby([day, decisions["decision"]]).size().items():
            cell = self.decisions.setdefault(str(d), {})
            cell[str(verdict)] = cell.get(str(verdict), 0) + int(n)

    def _pairs(self, window: Window) -> dict[tuple[str, str], list[int]]:
        pairs: dict[tuple[str, str], list[int]] = {}
        for day in window.days:
            for key, (micro, n) in self.spend.get(day.isoformat(), {}).items():
                agent, vendor = key.split("\x1f")
                cell = pairs.setdefault((agent, vendor), [0, 0])
                cell[0] += micro
                cell[1] += n
        return pairs

    def totals(self, *, now: datetime, days: int = 7) -> dict[str, Any]:
        current, previous = weekly_windows(now, days)
        this_week, last_week = self._pairs(current), self._pairs(previous)
        spend = sum(micro for micro, _ in this_week.values())
        previous_spend = sum(micro for micro, _ in last_week.values())
        previous_by_vendor = _sum_by(last_week, 1)
        by_vendor = _sum_by(this_week, 1)
        top = sorted(by_vendor.items(), key=lambda item: (-item[1], item[0]))[:TOP_VENDORS]
        by_day = {day.isoformat(): sum(micro for micro, _ in self.spend.get(day.isoformat(), {}).values())
                  for day in current.days}
        decided: dict[str, int] = {}
        for day in current.days:
            for verdict, n in self.decisions.get(day.isoformat(), {}).items():
                decided[verdict] = decided.get(verdict, 0) + n
        return {
            "window_start": current.start.isoformat(),
            "window_end": current.end.isoformat(),
            "previous_window_start": previous.start.isoformat(),
            "spend_usd": _usd(spend),
            "previous_spend_usd": _usd(previous_spend),
            "change_pct": change_pct(spend, previous_spend),
            "payments": sum(n for _, n in this_week.values()),
            "previous_payments": sum(n for _, n in last_week.values()),
            "by_agent": {k: _usd(v) for k, v in sorted(_sum_by(this_week, 0).items())},
            "by_vendor": {k: _usd(v) for k, v in sorted(by_vendor.items())},
            "by_day": {k: _usd(v) for k, v in by_day.items()},
            "top_vendors": [
                {"vendor": vendor, "spend_usd": _usd(micro),
                 "previous_spend_usd": _usd(previous_by_vendor.get(vendor, 0)),
                 "change_pct": change_pct(micro, previous_by_vendor.get(vendor, 0))}
                for vendor, micro in top
            ],
            "approvals": decided.get("approved", 0),
            "denials": decided.get("denied", 0),
            "pending_review": decided.get("pending_review", 0),
            "failures": sum(self.failures.get(day.isoformat(), 0) for day in current.days),
        }


def _sum_by(pairs: dict[tuple[str, str], list[int]], side: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for key, (micro, _) in pairs.items():
        found[key[side]] = found.get(key[side], 0) + micro
    return found


def change_pct(current_micro: int, previous_micro: int) -> str | None:
    """Week-over-week change in percent with two decimals, or None when there was nothing before."""
    if previous_micro == 0:
        return None
    pct = (Decimal(current_micro - previous_micro) * 100 / Decimal(previous_micro)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{pct:f}"


def decisions_frame(decisions: list[Any]) -> pd.DataFrame:
    """Approval decisions (records) as a frame of `ts` and `decision`."""
    frame = pd.DataFrame({"ts": [d.ts for d in decisions], "decision": [d.decision for d in decisions]})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def spend_chart_png(totals: dict[str, Any]) -> bytes:
    """A bar chart of spend by day, as PNG bytes (matplotlib, headless Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days = list(totals["by_day"])
    # Floats only for drawing bar heights; every figure printed comes from the exact strings.
    heights = [float(Decimal(v)) for v in totals["by_day"].values()]
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.subplots()
    axes.bar([d[5:] for d in days], heights, color="#5865F2")
    axes.set_title(f"Spend by day (USDC), {days[0]} to {days[-1]}" if days else "Spend by day (USDC)")
    axes.set_ylabel("USDC")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _usd(micro: int) -> str:
    return format_usd(from_micro(micro))
