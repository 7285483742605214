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
    current, previous = weekly_windows(now, days)
    accepted = events[(fold or fold_frame(events)).accepted] if len(events) else events
    captures = accepted[accepted["status"] == "captured"]  # one per payment: `captured` is terminal
    this_week, last_week = _within(captures, current), _within(captures, previous)
    spend, previous_spend = int(this_week["amount_micro"].sum()), int(last_week["amount_micro"].sum())
    failures = _within(accepted[accepted["status"] == "failed"], current)
    decided = _within(decisions, current) if len(decisions) else decisions
    previous_by_vendor = _money_by(last_week, "vendor")
    by_vendor = _money_by(this_week, "vendor")
    top = sorted(by_vendor.items(), key=lambda item: (-item[1], item[0]))[:TOP_VENDORS]
    by_day = {day.isoformat(): 0 for day in current.days}
    for day, micro in this_week.groupby(this_week["ts"].dt.strftime("%Y-%m-%d"))["amount_micro"].sum().items():
        by_day[str(day)] = int(micro)
    return {
        "window_start": current.start.isoformat(),
        "window_end": current.end.isoformat(),
        "previous_window_start": previous.start.isoformat(),
        "spend_usd": _usd(spend),
        "previous_spend_usd": _usd(previous_spend),
        "change_pct": change_pct(spend, previous_spend),
        "payments": len(this_week),
        "previous_payments": len(last_week),
        "by_agent": {k: _usd(v) for k, v in sorted(_money_by(this_week, "agent").items())},
        "by_vendor": {k: _usd(v) for k, v in sorted(by_vendor.items())},
        "by_day": {k: _usd(v) for k, v in by_day.items()},
        "top_vendors": [
            {"vendor": vendor, "spend_usd": _usd(micro),
             "previous_spend_usd": _usd(previous_by_vendor.get(vendor, 0)),
             "change_pct": change_pct(micro, previous_by_vendor.get(vendor, 0))}
            for vendor, micro in top
        ],
        "approvals": int((decided["decision"] == "approved").sum()) if len(decided) else 0,
        "denials": int((decided["decision"] == "denied").sum()) if len(decided) else 0,
        "pending_review": int((decided["decision"] == "pending_review").sum()) if len(decided) else 0,
        "failures": len(failures),
    }


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


def _within(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)]


def _money_by(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.groupby(column)["amount_micro"].sum().items()}


def _usd(micro: int) -> str:
    return format_usd(from_micro(micro))
