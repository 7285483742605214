"""The exporter's running totals of `transactions.jsonl`, kept exact and updated with new events only.

Blocks are added in file order (each block's rows in line order), as the state machine needs:
- counts are plain sums over every valid event (§6: one per payment event, by its status);
- each payment's state, first authorization, expiry and staleness are the state machine's
  (`ledgers.payment_states.PaymentBook`, the jobs' own), folded block by block; an event it refuses
  is an `invalid_transition` and changes nothing;
- spend is the captured amount of each payment whose capture the state machine accepted, in int
  micro-USDC (never a float);
- a vendor's failure streak is `payment_states.VendorStreaks` over the accepted outcomes, in time
  order, reset by a success.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.ledgers.payment_ids import PaymentIds
from genesis_payments.ledgers.payment_states import (
    NO_TIME,
    InvalidTransition,
    PaymentBook,
    VendorStreaks,
    status_codes,
)

INT64_MAX = 2**63 - 1


class PaymentTally:
    """Exact figures of the log seen so far; `add` the new events, `stale_by_agent(now)` to read.

    `add` works on a whole block at once: the low-cardinality strings (agent, vendor, chain, status)
    and the payment ids are dictionary-encoded once, and everything is aggregated on their integer
    codes with numpy (money as int64 micro-USDC, never a float). Python loops only run over what the
    block changes: its groups, its vendors, and its distinct payment ids (coded by `PaymentIds`).
    """

    def __init__(self, stale_after_seconds: int) -> None:
        self.stale_after_us = stale_after_seconds * 1_000_000
        self._counts: dict[tuple[str, str, str, str], int] = {}
        self.spend_micro: dict[tuple[str, str], int] = {}
        # Counts of added blocks not yet folded into `counts`, as (label-code key, rows) arrays: a
        # first read adds thousands of groups per block, folded once rather than once per block.
        self._labels: dict[str, int] = {}
        self._label_names: list[str] = []
        self._pending_counts: list[tuple[np.ndarray, np.ndarray]] = []
        self.streaks = VendorStreaks()
        self.agents: set[str] = set()
        self.events = 0
        self.last_event_us: int | None = None
        self._ids = PaymentIds()
        self.book = PaymentBook()
        self._agent = np.zeros(0, dtype=np.int64)  # by payment code: label code of its state's event's agent
        self.invalid: list[InvalidTransition] = []

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
        accepted = self._add_payment_states(block)
        self._add_spend(block, accepted)
        self._add_outcomes(block, accepted)

    @property
    def counts(self) -> dict[tuple[str, str, str, str], int]:
        """Events per (agent, vendor, chain, status)."""
        self._fold_counts()
        return self._counts

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
        names, counts = self._label_names, self._counts
        mask = (1 << 16) - 1
        for packed, n in zip(groups.tolist(), totals.tolist(), strict=True):
            label = (names[packed >> 48], names[(packed >> 32) & mask], names[(packed >> 16) & mask],
                     names[packed & mask])
            counts[label] = counts.get(label, 0) + n

    def _add_spend(self, block: PreparedEvents, accepted: np.ndarray) -> None:
        captured = block.rows_with("captured")
        captured = captured[accepted[captured]]
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
        spend = self.spend_micro
        for code, micro in zip(groups.tolist(), totals, strict=True):
            a, v = divmod(code, len(vendor.values))
            key = (agent.values[a], vendor.values[v])
            spend[key] = spend.get(key, 0) + micro

    def _add_outcomes(self, block: PreparedEvents, accepted: np.ndarray) -> None:
        failures = block.rows_with("failed")
        rows = np.sort(np.concatenate([block.rows_with("captured"), failures]))
        rows = rows[accepted[rows]]
        failed = np.isin(rows, failures)
        self.streaks.add(block.vendors.codes[rows], block.vendors.values, block.ts[rows], block.lines[rows], failed)

    def _add_payment_states(self, block: PreparedEvents) -> np.ndarray:
        """Fold the block's events into the book; which of its rows were accepted."""
        ids = block.payment_ids
        codes = self._ids.encode(ids.dictionary)[ids.codes]
        statuses = status_codes(block.statuses.values)[block.statuses.codes]
        valid_before = block.table.column("valid_before_us").fill_null(NO_TIME).to_numpy()
        fold = self.book.apply(codes, statuses, block.ts, valid_before)
        if len(self._agent) < len(self.book):
            self._agent = np.concatenate([self._agent, np.zeros(len(self.book) - len(self._agent), dtype=np.int64)])
        touched = np.unique(codes[fold.accepted])
        agent_labels = self._label_codes(block.agents.values).astype(np.int64)
        self._agent[touched] = agent_labels[block.agents.codes[self.book.row[touched]]]
        if not fold.accepted.all():
            dictionary = ids.dictionary
            self.invalid += fold.invalid(lambda k: dictionary[int(ids.codes[k])].as_py(), statuses, block.lines)
        return fold.accepted

    def stale_payments(self, now_us: int) -> tuple[np.ndarray, np.ndarray]:
        """The payments stale at `now_us` (`PaymentBook.stale`): their codes and kinds."""
        codes, kinds, _ = self.book.stale(now_us, self.stale_after_us)
        return codes, kinds

    def stale_by_agent(self, now_us: int) -> dict[str, int]:
        """Open payments stale at `now_us` (expired included), per agent (every agent seen, zeros too)."""
        codes, _ = self.stale_payments(now_us)
        counts = dict.fromkeys(self.agents, 0)
        for label, n in zip(*np.unique(self._agent[codes], return_counts=True), strict=True):
            counts[self._label_names[int(label)]] += int(n)
        return counts

    def failure_streaks(self) -> dict[str, int]:
        return self.streaks.streaks()

    def payment_id(self, code: int) -> str:
        return self._ids.id_of(code)

    # -- checkpoint (§5): the exporter's warm start ----------------------------------------------

    def to_checkpoint(self) -> tuple[pa.Table, dict[str, Any]]:
        """The tally as a table (one row per payment code) and JSON-able figures; `from_checkpoint`."""
        book = self.book
        table = pa.table({**self._ids.to_columns(), "state": book.state,
                          "first_authorized_us": book.first_authorized_us, "entered_us": book.entered_us,
                          "valid_before_us": book.valid_before_us, "row": book.row, "agent_label": self._agent})
        extra = {
            "stale_after_us": self.stale_after_us,
            "counts": [[*labels, n] for labels, n in self.counts.items()],
            "spend": [[*labels, micro] for labels, micro in self.spend_micro.items()],
            "labels": self._label_names,
            "streaks": self.streaks.to_dict(),
            "agents": sorted(self.agents),
            "events": self.events,
            "last_event_us": self.last_event_us,
            "invalid": [asdict(t) for t in self.invalid],
        }
        return table, extra

    @classmethod
    def from_checkpoint(cls, table: pa.Table, extra: dict[str, Any]) -> PaymentTally:
        """The tally `to_checkpoint` saved (its arrays copied out of the mapped file: they are written to)."""
        tally = cls(0)
        tally.stale_after_us = extra["stale_after_us"]
        tally._counts = {tuple(row[:4]): row[4] for row in extra["counts"]}
        tally.spend_micro = {(a, v): micro for a, v, micro in extra["spend"]}
        tally._label_names = list(extra["labels"])
        tally._labels = {name: code for code, name in enumerate(tally._label_names)}
        tally.streaks = VendorStreaks.from_dict(extra["streaks"])
        tally.agents = set(extra["agents"])
        tally.events, tally.last_event_us = extra["events"], extra["last_event_us"]
        tally.invalid = [InvalidTransition(**t) for t in extra["invalid"]]
        ids = table.column("payment_id")
        tally._ids = PaymentIds.from_columns(ids.chunk(0) if ids.num_chunks == 1 else ids.combine_chunks(),
                                             _column(table, "id_key"), _column(table, "id_code"))
        book = tally.book
        book.state = np.array(_column(table, "state"), dtype=np.int8)
        for name in ("first_authorized_us", "entered_us", "valid_before_us", "row"):
            setattr(book, name, np.array(_column(table, name), dtype=np.int64))
        tally._agent = np.array(_column(table, "agent_label"), dtype=np.int64)
        return tally


def _column(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    return (column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()).to_numpy()


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
    """The stateless part of `add`: numpy columns and dictionary codes (None if empty); rows stay in
    file order, as the state machine folds them."""
    if not events.num_rows:
        return None
    return PreparedEvents(events.combine_chunks())


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
