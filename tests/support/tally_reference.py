"""A from-scratch, row-by-row reference for `PaymentTally`: keeps every event and recomputes each
figure when asked, straight from the rules in `payment_tally`'s docstring. Slow and obviously right;
the tests compare the block-wise tally with it."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

OPEN = ("authorized", "settlement_pending")


class ReferenceTally:
    def __init__(self, stale_after_seconds: int) -> None:
        self.stale_after_us = stale_after_seconds * 1_000_000
        self.rows: list[dict] = []

    def add(self, events: pa.Table) -> None:
        self.rows += events.to_pylist()

    @property
    def events(self) -> int:
        return len(self.rows)

    @property
    def last_event_us(self) -> int | None:
        return max((r["ts_us"] for r in self.rows), default=None)

    @property
    def counts(self) -> dict[tuple[str, str, str, str], int]:
        return dict(Counter((r["agent"], r["vendor"], r["chain"], r["status"]) for r in self.rows))

    @property
    def spend_micro(self) -> dict[tuple[str, str], int]:
        spend: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.rows:
            if r["status"] == "captured":
                spend[(r["agent"], r["vendor"])] += r["amount_micro"]
        return dict(spend)

    def failure_streaks(self) -> dict[str, int]:
        streaks = {}
        for vendor in {r["vendor"] for r in self.rows}:
            outcomes = sorted((r["ts_us"], r["line"], r["status"]) for r in self.rows
                              if r["vendor"] == vendor and r["status"] in ("captured", "failed"))
            streak = 0
            for _, _, status in outcomes:
                streak = streak + 1 if status == "failed" else 0
            streaks[vendor] = streak
        return streaks

    def stale_by_agent(self, now_us: int) -> dict[str, int]:
        by_payment: dict[str, list[dict]] = defaultdict(list)
        for r in self.rows:
            by_payment[r["payment_id"]].append(r)
        stale = dict.fromkeys({r["agent"] for r in self.rows}, 0)
        for events in by_payment.values():
            if any(e["status"] not in OPEN for e in events):
                continue  # a terminal event closes the payment for good
            latest = max(events, key=lambda e: (e["ts_us"], e["line"]))
            deadline = latest["ts_us"] + self.stale_after_us
            if latest["status"] == "authorized" and latest["valid_before_us"] is not None:
                deadline = min(deadline, latest["valid_before_us"])
            if deadline < now_us:
                stale[latest["agent"]] += 1
        return stale
