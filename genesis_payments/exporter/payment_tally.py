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

from genesis_payments.exporter.payment_ids import CLOSED, OPEN, PaymentIds

OPEN_STATUSES = ("authorized", "settlement_pending")
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

    `add` works on a whole block at once: the low-cardinality strings (agent, vendor, chain, status)
    and the payment ids are dictionary-encoded once, and everything is aggregated on their integer
    codes with numpy (money as int64 micro-USDC, never a float). Python loops only run over what the
    block changes: its groups, the failures at the end of a vendor's history, and the payments it
    leaves open or closes while open. Every payment id seen is kept in `PaymentIds` (compact, exact),
    not as a Python string.
    """

    def __init__(self, stale_after_seconds: int) -> None:
        self.stale_after_us = stale_after_seconds * 1_000_000
        self._counts: dict[tuple[str, str, str, str], int] = {}
        self.spend_micro: dict[tuple[str, str], int] = {}
        # Series changed since `take_changes` was last called: lets a scrape re-render only those.
        self._changed_counts: set[tuple[str, str, str, str]] = set()
        self.changed_spend: set[tuple[str, str]] = set()
        # Counts of added blocks not yet folded into `counts`, as (label-code key, rows) arrays: a
        # first read adds thousands of groups per block, folded once rather than once per block.
        self._labels: dict[str, int] = {}
        self._label_names: list[str] = []
        self._pending_counts: list[tuple[np.ndarray, np.ndarray]] = []
        self.streaks: dict[str, VendorStreak] = {}
        self.agents: set[str] = set()
        self.events = 0
        self.last_event_us: int | None = None
        self._ids = PaymentIds()
        self._open: dict[str, OpenPayment] = {}
        # Deadlines of open payments, soonest first; an entry whose payment moved on is skipped.
        self._deadlines: list[tuple[int, str, Key]] = []
        self._stale: dict[str, str] = {}  # payment id → agent, for payments counted as stale
        self._stale_by_agent: dict[str, int] = {}

    def add(self, events: pa.Table) -> None:
        """Add a table of validated events (`event_columns.EVENT_SCHEMA`), in any order."""
        self.add_prepared(prepare_events(events))

    def add_prepared(self, block: PreparedEvents | None) -> None:
        """Add events that `prepare_events` made ready (perhaps in another thread)."""
        if block is None:
            return
        self.events += block.rows
        newest = int(block.ts.max())
        self.last_event_us = newest if self.last_event_us is None else max(self.last_event_us, newest)
        self.agents.update(block.agents.values)
        self._add_counts(block)
        self._add_spend(block)
        self._add_outcomes(block)
        self._add_payment_states(block)

    @property
    def counts(self) -> dict[tuple[str, str, str, str], int]:
        """Events per (agent, vendor, chain, status)."""
        self._fold_counts()
        return self._counts

    @property
    def changed_counts(self) -> set[tuple[str, str, str, str]]:
        self._fold_counts()
        return self._changed_counts

    def _add_counts(self, block: PreparedEvents) -> None:
        # The block's groups, found by counting (`_groups`), then each column's code as the code of
        # one tally-wide label table (a few dozen labels), packed four to a 64-bit key: 16 bits each.
        columns = (block.agents, block.vendors, block.chains, block.statuses)
        groups, sizes = _groups([column.codes for column in columns], [len(column.values) for column in columns])
        key = np.zeros(len(sizes), dtype=np.uint64)
        for column, codes in zip(columns, groups, strict=True):
            key = (key << np.uint64(16)) | self._label_codes(column.values)[codes]
        self._pending_counts.append((key, sizes))

    def _label_codes(self, values: list[str]) -> np.ndarray:
        for value in values:
            if value not in self._labels:
                if len(self._label_names) >= 1 << 16:
                    raise ValueError("more than 65,536 distinct agent, vendor, chain and status labels")
                self._labels[value] = len(self._label_names)
                self._label_names.append(value)
        return np.array([self._labels[value] for value in values], dtype=np.uint64)

    def _fold_counts(self) -> None:
        if not self._pending_counts:
            return
        keys = np.concatenate([groups for groups, _ in self._pending_counts])
        rows = np.concatenate([sizes for _, sizes in self._pending_counts])
        self._pending_counts = []
        groups, inverse = np.unique(keys, return_inverse=True)
        totals = np.zeros(len(groups), dtype=np.int64)
        np.add.at(totals, inverse, rows)  # row counts: far below int64's range
        names, counts, changed = self._label_names, self._counts, self._changed_counts
        mask = (1 << 16) - 1
        for packed, n in zip(groups.tolist(), totals.tolist(), strict=True):
            label = (names[packed >> 48], names[(packed >> 32) & mask], names[(packed >> 16) & mask],
                     names[packed & mask])
            counts[label] = counts.get(label, 0) + n
            changed.add(label)

    def _add_spend(self, block: PreparedEvents) -> None:
        captured = block.rows_with("captured")
        if not len(captured):
            return
        agent, vendor = block.agents, block.vendors
        pair = agent.codes[captured].astype(np.int64) * len(vendor.values) + vendor.codes[captured]
        amounts = block.amounts[captured]
        # Dense over the block's (agent, vendor) pairs: a few thousand at most, no sort.
        if int(amounts.max()) * len(amounts) <= INT64_MAX:
            sums = np.zeros(len(agent.values) * len(vendor.values), dtype=np.int64)
            np.add.at(sums, pair, amounts)  # exact: int64, and the bound above rules out overflow
            present = np.bincount(pair, minlength=len(sums)) > 0  # a sum can be 0 and still a series
            groups = np.flatnonzero(present)
            totals = sums[groups].tolist()
        else:  # an int64 sum could overflow: add as Python ints, which cannot
            groups, inverse = np.unique(pair, return_inverse=True)
            totals = [0] * len(groups)
            for g, micro in zip(inverse.tolist(), amounts.tolist(), strict=True):
                totals[g] += micro
        spend, changed = self.spend_micro, self.changed_spend
        for code, micro in zip(groups.tolist(), totals, strict=True):
            a, v = divmod(code, len(vendor.values))
            key = (agent.values[a], vendor.values[v])
            spend[key] = spend.get(key, 0) + micro
            changed.add(key)

    def _add_outcomes(self, block: PreparedEvents) -> None:
        vendor = block.vendors
        streaks = [self.streaks.setdefault(name, VendorStreak()) for name in vendor.values]
        # Rows are in time order: a vendor's latest success in the block is its last captured row.
        last_success = np.full(len(vendor.values), -1, dtype=np.int64)
        captured = block.rows_with("captured")
        np.maximum.at(last_success, vendor.codes[captured], captured)
        for v in np.flatnonzero(last_success >= 0).tolist():
            row = int(last_success[v])
            streaks[v].add((int(block.ts[row]), int(block.lines[row])), failed=False)
        failed = block.rows_with("failed")
        # A failure before its vendor's latest success in the block cannot count; the others might.
        after = failed[failed > last_success[vendor.codes[failed]]]
        for row in after.tolist():
            streaks[vendor.codes[row]].add((int(block.ts[row]), int(block.lines[row])), failed=True)

    def _add_payment_states(self, block: PreparedEvents) -> None:
        ids = block.payment_ids
        is_open = np.array([s in OPEN_STATUSES for s in block.statuses.values], dtype=bool)[block.statuses.codes]
        # A terminal event anywhere closes the payment for good.
        closing = np.zeros(len(ids.dictionary), dtype=bool)
        closing[ids.codes[~is_open]] = True
        previous = self._ids.update(ids.dictionary, closing)
        for k in np.flatnonzero(closing & (previous == OPEN)).tolist():
            pid = ids.dictionary[k].as_py()
            if self._open.pop(pid, None) is not None:
                self._unstale(pid)
        # The payments left open: each one's latest event (rows are in time order).
        candidates = np.flatnonzero(~closing & (previous != CLOSED))
        if not len(candidates):
            return
        latest = np.full(len(ids.dictionary), -1, dtype=np.int64)
        open_rows = np.flatnonzero(is_open)
        np.maximum.at(latest, ids.codes[open_rows], open_rows)
        rows = latest[candidates]
        take = pa.array(rows)
        valid_before = block.table.column("valid_before_us").take(take).to_pylist()
        for pid, row, before in zip(ids.dictionary.take(pa.array(candidates)).to_pylist(), rows.tolist(), valid_before,
                                    strict=True):
            status = block.statuses.values[block.statuses.codes[row]]
            agent = block.agents.values[block.agents.codes[row]]
            self._open_payment(pid, status, (int(block.ts[row]), int(block.lines[row])), agent, before)

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
        self._fold_counts()
        changes = (self._changed_counts, self.changed_spend)
        self._changed_counts, self.changed_spend = set(), set()
        return changes

    def failure_streaks(self) -> dict[str, int]:
        return {vendor: len(streak.failures) for vendor, streak in self.streaks.items()}


_DENSE_GROUPS = 1 << 22  # up to this many possible groups, a block's groups are counted, not sorted


def _groups(codes: list[np.ndarray], sizes: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the code columns (`sizes[k]`: how many codes column k has) and how many
    times each occurs: a bincount over the combined code when the columns allow few combinations
    (agents × vendors × chains × statuses: thousands), else a sort."""
    total = int(np.prod(sizes, dtype=object))  # exact: may exceed int64
    if total >= 1 << 63:  # too many to combine into one int64: sort the rows themselves
        rows, counts = np.unique(np.stack(codes, axis=1), axis=0, return_counts=True)
        return list(rows.T), counts
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for column, size in zip(codes, sizes, strict=True):
        combined = combined * size + column
    if total <= _DENSE_GROUPS:
        counts = np.bincount(combined, minlength=total)
        groups = np.flatnonzero(counts)
        counts = counts[groups]
    else:
        groups, counts = np.unique(combined, return_counts=True)
    columns = []
    for size in reversed(sizes):
        groups, column = np.divmod(groups, size)
        columns.append(column)
    return columns[::-1], counts


def prepare_events(events: pa.Table) -> PreparedEvents | None:
    """The stateless part of `add`: time order, numpy columns and dictionary codes (None if empty).

    Kept apart so that a reader can do it in its own thread while the tally adds the block before.
    """
    if not events.num_rows:
        return None
    return PreparedEvents(_in_time_order(events.combine_chunks()))


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


@dataclass
class _Codes:
    """A string column as integer codes into its distinct values."""

    codes: np.ndarray
    values: list[str]


@dataclass
class _Ids:
    codes: np.ndarray
    dictionary: pa.Array  # the distinct payment ids, kept in arrow (there can be many)


class PreparedEvents:
    """One table's columns as numpy arrays and dictionary codes, each computed once."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows
        self.ts = table.column("ts_us").to_numpy()
        self.lines = table.column("line").to_numpy()
        self.amounts = table.column("amount_micro").to_numpy()
        self.agents = _encode(table.column("agent"))
        self.vendors = _encode(table.column("vendor"))
        self.chains = _encode(table.column("chain"))
        self.statuses = _encode(table.column("status"))
        encoded = _dictionary(table.column("payment_id"))
        self.payment_ids = _Ids(encoded.indices.to_numpy(), encoded.dictionary)

    def rows_with(self, status: str) -> np.ndarray:
        """The row numbers (ascending) with this status."""
        values = self.statuses.values
        if status not in values:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.statuses.codes == values.index(status))


def _dictionary(column: pa.ChunkedArray) -> pa.DictionaryArray:
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if pa.types.is_dictionary(array.type):  # read as codes already (the chunks' dictionaries unified)
        return array
    return pc.dictionary_encode(array)


def _encode(column: pa.ChunkedArray) -> _Codes:
    encoded = _dictionary(column)
    return _Codes(encoded.indices.to_numpy(), encoded.dictionary.to_pylist())
