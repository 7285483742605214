"""The exporter's running totals of `transactions.jsonl`, kept exact and updated with new events only.

Everything here is independent of the order in which events are *added*: an event is placed by its
key `(ts, line)` (time order, ties broken by position in the file, as "a payment's current state is
its latest event" needs), so a late-written event with an earlier timestamp lands where it belongs.

- counts and spend are plain sums (spend in int micro-USDC, never a float);
- a vendor's failure streak is the number of `failed` outcomes after its latest `captured` one.
  Only outcomes count: `authorized`, `settlement_pending`, `cancelled` and `expired` neither extend
  nor reset a streak, otherwise every payment's own `authorized` event would break it (§5: "reset by
  a success");
- a payment is open while its latest event is `authorized` or `settlement_pending`. It is stale
  once it has stayed so for longer than the threshold or, when `authorized`, is past its
  `valid_before`. A terminal event (`captured`, `cancelled`, `expired`, `failed`) closes a payment
  for good: there is no transition out of a terminal state, so an event logged after it cannot
  reopen it.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections import Counter
from dataclasses import dataclass, field

from genesis_payments.event_columns import STATUS_NAMES, EventColumns

CAPTURED = STATUS_NAMES.index("captured")
FAILED = STATUS_NAMES.index("failed")
OPEN_STATUSES = frozenset(STATUS_NAMES.index(s) for s in ("authorized", "settlement_pending"))
AUTHORIZED = STATUS_NAMES.index("authorized")

Key = tuple[int, int]  # (ts in µs since epoch, line number)


@dataclass
class VendorStreak:
    last_success: Key | None = None
    failures: list[Key] = field(default_factory=list)  # sorted; only those after last_success

    def add(self, key: Key, failed: bool) -> None:
        if self.last_success is not None and key < self.last_success:
            return
        if failed:
            insort(self.failures, key)
        else:
            self.last_success = key
            self.failures = [k for k in self.failures if k > key]


@dataclass(frozen=True)
class OpenPayment:
    key: Key
    status: int
    agent: str
    stale_at_us: int  # the payment is stale once now is past this


class PaymentTally:
    """Exact figures of the log seen so far; `add` the new events, `stale_by_agent(now)` to read."""

    def __init__(self, stale_after_seconds: int) -> None:
        self.stale_after_us = stale_after_seconds * 1_000_000
        self.counts: Counter[tuple[str, str, str, str]] = Counter()
        self.spend_micro: dict[tuple[str, str], int] = {}
        self.streaks: dict[str, VendorStreak] = {}
        self.agents: set[str] = set()
        self.events = 0
        self.last_event_us: int | None = None
        self._open: dict[str, OpenPayment] = {}
        self._closed: set[str] = set()
        # Deadlines of open payments, soonest first; an entry whose payment moved on is skipped.
        self._deadlines: list[tuple[int, str, Key]] = []
        self._stale: dict[str, str] = {}  # payment id → agent, for payments counted as stale
        self._stale_by_agent: Counter[str] = Counter()

    def add(self, columns: EventColumns) -> None:
        if not len(columns):
            return
        statuses = [STATUS_NAMES[code] for code in columns.status.tolist()]
        ts = columns.ts_us.tolist()
        lines = columns.line.tolist()
        self.events += len(lines)
        newest = max(ts)
        self.last_event_us = newest if self.last_event_us is None else max(self.last_event_us, newest)
        self.counts.update(zip(columns.agent, columns.vendor, columns.chain, statuses, strict=True))
        self.agents.update(columns.agent)
        self._add_spend(columns, statuses)
        self._add_outcomes(columns, ts, lines)
        self._add_payment_states(columns, ts, lines)

    def _add_spend(self, columns: EventColumns, statuses: list[str]) -> None:
        spend = self.spend_micro
        for agent, vendor, status, micro in zip(
            columns.agent, columns.vendor, statuses, columns.amount_micro, strict=True
        ):
            if status == "captured":
                key = (agent, vendor)
                spend[key] = spend.get(key, 0) + micro

    def _add_outcomes(self, columns: EventColumns, ts: list[int], lines: list[int]) -> None:
        streaks = self.streaks
        for vendor, code, t, line in zip(columns.vendor, columns.status.tolist(), ts, lines, strict=True):
            streak = streaks.get(vendor)
            if streak is None:
                streak = streaks[vendor] = VendorStreak()
            if code == FAILED or code == CAPTURED:
                streak.add((t, line), code == FAILED)

    def _add_payment_states(self, columns: EventColumns, ts: list[int], lines: list[int]) -> None:
        open_, closed = self._open, self._closed
        touched: set[str] = set()
        for pid, code, t, line, agent, valid_before in zip(
            columns.payment_id, columns.status.tolist(), ts, lines, columns.agent,
            columns.valid_before_us.tolist(), strict=True,
        ):
            if pid in closed:
                continue
            current = open_.get(pid)
            if code not in OPEN_STATUSES:
                closed.add(pid)
                if current is not None:
                    del open_[pid]
                    self._unstale(pid)
                continue
            key = (t, line)
            if current is not None and key < current.key:
                continue
            stale_at = t + self.stale_after_us
            if code == AUTHORIZED and valid_before >= 0:
                stale_at = min(stale_at, valid_before)
            open_[pid] = OpenPayment(key, code, agent, stale_at)
            if current is not None:
                self._unstale(pid)
            touched.add(pid)
        for pid in touched:
            payment = open_.get(pid)
            if payment is not None:
                heapq.heappush(self._deadlines, (payment.stale_at_us, pid, payment.key))

    def _unstale(self, pid: str) -> None:
        agent = self._stale.pop(pid, None)
        if agent is not None:
            self._stale_by_agent[agent] -= 1

    def stale_by_agent(self, now_us: int) -> dict[str, int]:
        """Open payments past their deadline at `now_us`, per agent (every agent seen, zeros too)."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] < now_us:
            _, pid, key = heapq.heappop(deadlines)
            payment = self._open.get(pid)
            if payment is not None and payment.key == key and pid not in self._stale:
                self._stale[pid] = payment.agent
                self._stale_by_agent[payment.agent] += 1
        return {agent: self._stale_by_agent.get(agent, 0) for agent in self.agents}

    def failure_streaks(self) -> dict[str, int]:
        return {vendor: len(streak.failures) for vendor, streak in self.streaks.items()}
