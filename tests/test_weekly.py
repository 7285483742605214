"""Weekly-report library: UTC week boundaries, exact totals, change in %, the chart."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from genesis_payments.jobs.weekly import change_pct, spend_chart_png, weekly_totals, weekly_windows
from genesis_payments.ledgers.frames import payment_events_frame
from tests.support.ledgers import event, write_ledger

# A Monday, 04:00 UTC: the window is Mon 16 to Sun 22 November, the one before Mon 9 to Sun 15.
RUN = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def cap(pid, ts, amount, vendor="openai", agent="agent-a"):
    """A one-shot payment (§4: `authorized` then `captured`), both at `ts`."""
    return [event(pid, status, ts, amount, vendor=vendor, agent=agent) for status in ("authorized", "captured")]


def totals(settings, lines, decisions=None):
    lines = [line for item in lines for line in (item if isinstance(item, list) else [item])]
    write_ledger(settings, "events", lines)
    frame = payment_events_frame(settings).frame
    decided = decisions if decisions is not None else pd.DataFrame({"ts": pd.to_datetime([], utc=True),
                                                                      "decision": []})
    return weekly_totals(frame, decided, now=RUN)


def test_windows_are_whole_utc_days_before_the_runs_day():
    current, previous = weekly_windows(datetime(2026, 11, 23, 0, 30, tzinfo=UTC))
    assert (current.start, current.end) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert previous.start == datetime(2026, 11, 9, tzinfo=UTC)
    # 23:30 on Sunday in New York is already Monday in UTC: the same window.
    late = datetime.fromisoformat("2026-11-22T23:30:00-05:00")
    assert weekly_windows(late)[0] == current


def test_boundaries_spend_and_change(store, settings):
    lines = [
        cap("before-window", "2026-11-15T23:59:59.999999+00:00", "10"),  # previous week
        cap("first-moment", "2026-11-16T00:00:00.000000+00:00", "1.5", vendor="a"),
        cap("offset", "2026-11-16T01:00:00.000000+02:00", "2", vendor="b"),  # 15 Nov 23:00 UTC: previous
        cap("last-moment", "2026-11-22T23:59:59.999999+00:00", "3.5", vendor="a", agent="agent-b"),
        cap("run-day", "2026-11-23T00:00:00.000000+00:00", "100"),  # today: not complete, not counted
        event("f1", "failed", "2026-11-18T10:00:00.000000+00:00"),
        event("f0", "failed", "2026-11-12T10:00:00.000000+00:00"),
        event("auth-only", "authorized", "2026-11-18T10:00:00.000000+00:00", "999"),
    ]
    result = totals(settings, lines)
    assert result["spend_usd"] == "5.000000"
    assert result["previous_spend_usd"] == "12.000000"
    assert result["change_pct"] == "-58.33"
    assert result["by_vendor"] == {"a": "5.000000"}
    assert result["by_agent"] == {"agent-a": "1.500000", "agent-b": "3.500000"}
    assert list(result["by_day"]) == [f"2026-11-{d}" for d in range(16, 23)]
    assert result["by_day"]["2026-11-16"] == "1.500000" and result["by_day"]["2026-11-22"] == "3.500000"
    assert result["failures"] == 1
    assert result["top_vendors"][0] == {"vendor": "a", "spend_usd": "5.000000", "previous_spend_usd": "0.000000",
                                        "change_pct": None}


def test_approvals_and_denials_are_counted_in_the_window(store, settings):
    decisions = pd.DataFrame({
        "ts": pd.to_datetime(["2026-11-16T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z",
                              "2026-11-15T23:59:59Z"], utc=True),
        "decision": ["approved", "denied", "approved", "approved"],
    })
    result = totals(settings, [], decisions)
    assert (result["approvals"], result["denials"]) == (2, 1)
    assert result["spend_usd"] == "0.000000" and result["change_pct"] is None


def test_change_pct_is_exact_and_none_without_a_previous_week():
    assert change_pct(150, 100) == "50.00"
    assert change_pct(1, 3) == "-66.67"
    assert change_pct(5, 0) is None


def test_chart_is_a_png():
    result = {"by_day": {"2026-11-16": "1.500000", "2026-11-17": "0.000000"}}
    assert spend_chart_png(result).startswith(b"\x89PNG\r\n\x1a\n")
