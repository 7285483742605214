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
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OPEN_STATUSES = pa.array(["authorized", "settlement_pending"])
OUTCOMES = pa.array(["captured", "failed"])
INT64_MAX = 2**63 - 1

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
    agent: str
    stale_at_us: int  # the payment is stale once now is past this


class PaymentTally:
    """Exact figures of the log seen so far; `add` the new events, `stale_by_agent(now)` to read.

    `add` works on a block's table with vectorised group-bys; Python loops only run over what the
    block changes: its groups, its failures and the payments it leaves open.
    """

    def __init__(self, stale_after_seconds: int, row_wise_below: int = 4096) -> None:
        self.stale_after_us = stale_after_seconds * 1_000_000
        self.row_wise_below = row_wise_below
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.spend_micro: dict[tuple[str, str], int] = {}
        # Series changed since `take_changes` was last called: lets a scrape re-render only those.
        self.changed_counts: set[tuple[str, str, str, str]] = set()
        self.changed_spend: set[tuple[str, str]] = set()
        self.streaks: dict[str, VendorStreak] = {}
        self.agents: set[str] = set()
        self.events = 0
        self.last_event_us: int | None = None
        self._open: dict[str, OpenPayment] = {}
        self._closed: set[str] = set()
        # Deadlines of open payments, soonest first; an entry whose payment moved on is skipped.
        self._deadlines: list[tuple[int, str, Key]] = []
        self._stale: dict[str, str] = {}  # payment id → agent, for payments counted as stale
        self._stale_by_agent: dict[str, int] = {}

    def add(self, events: pa.Table) -> None:
        """Add a table of validated events (`event_columns.EVENT_SCHEMA`), in any order."""
        if not events.num_rows:
            return
        self.events += events.num_rows
        newest = pc.max(events.column("ts_us")).as_py()
        self.last_event_us = newest if self.last_event_us is None else max(self.last_event_us, newest)
        if events.num_rows < self.row_wise_below:
            self._add_rows(events)
            return
        events = _in_time_order(events)
        self.agents.update(pc.unique(events.column("agent")).to_pylist())
        self._add_counts(events)
        self._add_spend(events)
        self._add_outcomes(events)
        self._add_payment_states(events)

    def _add_rows(self, events: pa.Table) -> None:
        """The same as the vectorised path, one row at a time: cheaper for a scrape's few new lines,
        where each arrow group-by's fixed cost would dominate."""
        counts, spend, streaks = self.counts, self.spend_micro, self.streaks
        changed_counts, changed_spend = self.changed_counts, self.changed_spend
        columns = [events.column(c).to_pylist() for c in (
            "agent", "vendor", "chain", "status", "amount_micro", "ts_us", "line", "payment_id", "valid_before_us")]
        rows = list(zip(*columns, strict=True))
        rows.sort(key=lambda row: (row[5], row[6]))  # time order, as the vectorised path
        for agent, vendor, chain, status, micro, ts, line, pid, valid_before in rows:
            self.agents.add(agent)
            key = (agent, vendor, chain, status)
            counts[key] = counts.get(key, 0) + 1
            changed_counts.add(key)
            streak = streaks.get(vendor)
            if streak is None:
                streak = streaks[vendor] = VendorStreak()
            if status == "captured":
                spend[(agent, vendor)] = spend.get((agent, vendor), 0) + micro
                changed_spend.add((agent, vendor))
                streak.add((ts, line), failed=False)
            elif status == "failed":
                streak.add((ts, line), failed=True)
            self._add_payment_event(pid, status, (ts, line), agent, valid_before)

    def _add_payment_event(self, pid: str, status: str, key: Key, agent: str, valid_before: int | None) -> None:
        if pid in self._closed:
            return
        if status not in ("authorized", "settlement_pending"):
            self._closed.add(pid)  # a terminal event closes the payment for good
            if self._open.pop(pid, None) is not None:
                self._unstale(pid)
            return
        self._open_payment(pid, status, key, agent, valid_before)

    def _open_payment(self, pid: str, status: str, key: Key, agent: str, valid_before: int | None) -> None:
        current = self._open.get(pid)
        if current is not None:
            if key < current.key:
                return
            self._unstale(pid)
        stale_at = key[0] + self.stale_after_us
        if status == "authorized" and valid_before is not None:
            stale_at = min(stale_at, valid_before)  # past valid_before the authorization expired
        self._open[pid] = OpenPayment(key, agent, stale_at)
        heapq.heappush(self._deadlines, (stale_at, pid, key))

    def _add_counts(self, events: pa.Table) -> None:
        groups = events.group_by(["agent", "vendor", "chain", "status"]).aggregate([("line", "count")])
        counts = self.counts
        for agent, vendor, chain, status, n in zip(
            *(groups.column(c).to_pylist() for c in ("agent", "vendor", "chain", "status", "line_count")),
            strict=True,
        ):
            key = (agent, vendor, chain, status)
            counts[key] = counts.get(key, 0) + n
            self.changed_counts.add(key)

    def _add_spend(self, events: pa.Table) -> None:
        captured = events.filter(pc.equal(events.column("status"), "captured"))
        if not captured.num_rows:
            return
        spend = self.spend_micro
        amounts = captured.column("amount_micro")
        if pc.max(amounts).as_py() * captured.num_rows <= INT64_MAX:
            groups = captured.group_by(["agent", "vendor"]).aggregate([("amount_micro", "sum")])
            rows = zip(*(groups.column(c).to_pylist() for c in ("agent", "vendor", "amount_micro_sum")), strict=True)
        else:  # an int64 sum could overflow: add as Python ints, which cannot
            rows = zip(*(captured.column(c).to_pylist() for c in ("agent", "vendor", "amount_micro")), strict=True)
        for agent, vendor, micro in rows:
            spend[(agent, vendor)] = spend.get((agent, vendor), 0) + micro
            self.changed_spend.add((agent, vendor))

    def _add_outcomes(self, events: pa.Table) -> None:
        status = events.column("status")
        for vendor in pc.unique(events.column("vendor")).to_pylist():
            self.streaks.setdefault(vendor, VendorStreak())
        captured = events.filter(pc.equal(status, "captured"))
        if captured.num_rows:
            latest = (
                captured.group_by("vendor", use_threads=False)
                .aggregate([("ts_us", "last"), ("line", "last")])
            )
            for vendor, ts, line in zip(
                *(latest.column(c).to_pylist() for c in ("vendor", "ts_us_last", "line_last")), strict=True
            ):
                self.streaks[vendor].add((ts, line), failed=False)
        failed = events.filter(pc.equal(status, "failed"))
        for vendor, ts, line in zip(*(failed.column(c).to_pylist() for c in ("vendor", "ts_us", "line")), strict=True):
            self.streaks[vendor].add((ts, line), failed=True)

    def _add_payment_states(self, events: pa.Table) -> None:
        is_open = pc.is_in(events.column("status"), value_set=OPEN_STATUSES)
        latest = (
            events.append_column("is_open", is_open)
            .select(["payment_id", "ts_us", "line", "status", "agent", "valid_before_us", "is_open"])
            .group_by("payment_id", use_threads=False)
            .aggregate([
                ("ts_us", "last"), ("line", "last"), ("status", "last"), ("agent", "last"),
                ("valid_before_us", "last", pc.ScalarAggregateOptions(skip_nulls=False)),
                ("is_open", "all"),
            ])
        )
        still_open = latest.column("is_open_all")
        # A terminal event anywhere closes the payment for good.
        closing = latest.filter(pc.invert(still_open)).column("payment_id").to_pylist()
        if closing:
            self._closed.update(closing)
            for pid in self._open.keys() & set(closing):
                del self._open[pid]
                self._unstale(pid)
        candidates = latest.filter(still_open)
        closed = self._closed
        for pid, ts, line, status, agent, valid_before in zip(
            *(candidates.column(c).to_pylist()
              for c in ("payment_id", "ts_us_last", "line_last", "status_last", "agent_last", "valid_before_us_last")),
            strict=True,
        ):
            if pid not in closed:
                self._open_payment(pid, status, (ts, line), agent, valid_before)

    def _unstale(self, pid: str) -> None:
        agent = self._stale.pop(pid, None)
        if agent is not None:
            self._stale_by_agent[agent] -= 1

    def stale_by_agent(self, now_us: int) -> dict[str, int]:
        """Open payments past their deadline at `now_us`, per agent (every agent seen, zeros too).

        Time is taken to move forward: a payment counted as stale stays counted until an event
        moves it on.
        """
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] < now_us:
            _, pid, key = heapq.heappop(deadlines)
            payment = self._open.get(pid)
            if payment is not None and payment.key == key and pid not in self._stale:
                self._stale[pid] = payment.agent
                self._stale_by_agent[payment.agent] = self._stale_by_agent.get(payment.agent, 0) + 1
        return {agent: self._stale_by_agent.get(agent, 0) for agent in self.agents}

    def take_changes(self) -> tuple[set[tuple[str, str, str, str]], set[tuple[str, str]]]:
        """The count and spend series changed since the last call (and forget them)."""
        changes = (self.changed_counts, self.changed_spend)
        self.changed_counts, self.changed_spend = set(), set()
        return changes

    def failure_streaks(self) -> dict[str, int]:
        return {vendor: len(streak.failures) for vendor, streak in self.streaks.items()}


def _in_time_order(events: pa.Table) -> pa.Table:
    """Rows by (ts, line): ordered group-bys ("last") then give each group's latest event.

    A block is nearly always written in time order already (its lines are in line order), so the
    sort is skipped when the timestamps never decrease.
    """
    ts = events.column("ts_us").to_numpy()
    lines = events.column("line").to_numpy()
    if (np.diff(ts) >= 0).all() and (np.diff(lines) > 0).all():
        return events
    return events.sort_by([("ts_us", "ascending"), ("line", "ascending")])
