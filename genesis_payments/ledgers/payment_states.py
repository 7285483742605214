"""The payment state machine of §4: the one place that says what state a payment is in.

A payment's state is the state its allowed transitions reach, in file order. An event that is not
an allowed transition from the current state (a second `authorized`, anything after a terminal
state) changes nothing and is an `invalid_transition` finding. The age of an authorization counts
from the first `authorized` event. Every job, the exporter and the buyer fold events through
`PaymentStates`, so they cannot disagree about a payment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.core.records import ALLOWED_TRANSITIONS, PAYMENT_STATUSES, PaymentEvent
from genesis_payments.ledgers.payment_ids import PaymentIds

TERMINAL = frozenset(state for state, nexts in ALLOWED_TRANSITIONS.items() if state is not None and not nexts)
OPEN = frozenset({"authorized", "settlement_pending"})


@dataclass(frozen=True)
class InvalidTransition:
    """An event that its payment's state does not allow; it changed nothing."""

    payment_id: str
    from_state: str | None
    to_state: str
    line: int | None

    def finding(self) -> dict[str, Any]:
        return {"kind": "invalid_transition", "payment_id": self.payment_id, "from": self.from_state,
                "to": self.to_state, "line": self.line}


@dataclass
class PaymentState:
    """Where one payment stands after the allowed transitions of its events."""

    payment_id: str
    status: str
    first_authorized_at: datetime | None
    last_event: PaymentEvent
    events: list[PaymentEvent] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def allowed(current: str | None, status: str) -> bool:
    return status in ALLOWED_TRANSITIONS.get(current, frozenset())


class PaymentStates:
    """Folds payment events, in file order, into each payment's state."""

    def __init__(self) -> None:
        self.payments: dict[str, PaymentState] = {}
        self.invalid: list[InvalidTransition] = []

    def apply(self, event: PaymentEvent, line: int | None = None) -> bool:
        """Apply one event; False (and an `invalid_transition`) when its payment's state refuses it."""
        state = self.payments.get(event.payment_id)
        current = state.status if state is not None else None
        if not allowed(current, event.status):
            self.invalid.append(InvalidTransition(event.payment_id, current, event.status, line))
            return False
        if state is None:
            first = event.ts if event.status == "authorized" else None
            self.payments[event.payment_id] = PaymentState(event.payment_id, event.status, first, event, [event])
        else:
            state.status = event.status
            state.last_event = event
            state.events.append(event)
        return True

    def get(self, payment_id: str) -> PaymentState | None:
        return self.payments.get(payment_id)


def fold_events(events: Iterable[PaymentEvent | tuple[int, PaymentEvent]]) -> PaymentStates:
    """Every payment's state from events in file order (optionally with their line numbers)."""
    states = PaymentStates()
    for item in events:
        line, event = item if isinstance(item, tuple) else (None, item)
        states.apply(event, line)
    return states


def by_intent(states: PaymentStates) -> Mapping[str, list[PaymentState]]:
    """Payments grouped by the intent they pay for (events that name one)."""
    grouped: dict[str, list[PaymentState]] = {}
    for state in states.payments.values():
        intent = state.events[0].intent_id
        if intent is not None:
            grouped.setdefault(intent, []).append(state)
    return grouped


# ---------------------------------------------------------------------------------------------
# The same fold over arrays: how the jobs and the exporter apply it to a million events.
#
# `TRANSITIONS` is `allowed` tabulated (state code × status code), so the array form cannot say
# anything the event-by-event form does not. `PaymentBook.apply` steps every payment of a block
# through its k-th event at once, k = 0, 1, …: one step of the fold per event, in file order.

STATE_NAMES: tuple[str | None, ...] = (None, *PAYMENT_STATUSES)  # code 0: no event accepted yet
STATE_CODES = {name: code for code, name in enumerate(STATE_NAMES)}
TRANSITIONS = np.array([[allowed(state, status) for status in PAYMENT_STATUSES] for state in STATE_NAMES])
OPEN_CODES = np.array([STATE_CODES[name] for name in sorted(OPEN)], dtype=np.int8)
NO_TIME = np.iinfo(np.int64).min  # an absent time (µs since the epoch)
STALE_KINDS = ("stale_authorization", "expired_authorization", "stale_settlement")


def status_codes(statuses: Sequence[str] | np.ndarray) -> np.ndarray:
    """Each status's state code (1…6), for `PaymentBook.apply`."""
    index = {name: code for code, name in enumerate(STATE_NAMES) if name is not None}
    return np.array([index[s] for s in statuses], dtype=np.int8)


@dataclass
class BlockFold:
    """What one `PaymentBook.apply` did: per event, whether it was accepted and its payment's state
    before it; the refused events are the `invalid_transition` findings."""

    accepted: np.ndarray
    from_state: np.ndarray

    def invalid(self, payment_id: Callable[[int], str], statuses: np.ndarray, lines: np.ndarray
                ) -> list[InvalidTransition]:
        """The refused events as findings (`payment_id(k)`: the id of event k)."""
        return [InvalidTransition(payment_id(k), STATE_NAMES[int(self.from_state[k])],
                                  STATE_NAMES[int(statuses[k])] or "", int(lines[k]))
                for k in np.flatnonzero(~self.accepted).tolist()]


class PaymentBook:
    """Every payment's state as arrays indexed by payment code, advanced block by block.

    Per payment: `state` (a code of `STATE_NAMES`), `first_authorized_us` (the first `authorized`
    event's time), `entered_us` (when the accepted event that reached the state happened),
    `valid_before_us` and `row` (that event's `valid_before`, and its position in the caller's
    arrays — the caller keeps agent, vendor and amount). The jobs apply a whole ledger at once, the
    exporter each block it reads; either way an event is one step of the fold, in file order.
    """

    def __init__(self) -> None:
        self.state = np.zeros(0, dtype=np.int8)
        self.first_authorized_us = np.zeros(0, dtype=np.int64)
        self.entered_us = np.zeros(0, dtype=np.int64)
        self.valid_before_us = np.zeros(0, dtype=np.int64)
        self.row = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.state)

    def grow(self, payments: int) -> None:
        """Room for payment codes below `payments` (new ones have no event yet)."""
        extra = payments - len(self.state)
        if extra <= 0:
            return
        self.state = np.concatenate([self.state, np.zeros(extra, dtype=np.int8)])
        for name in ("first_authorized_us", "entered_us", "valid_before_us"):
            setattr(self, name, np.concatenate([getattr(self, name), np.full(extra, NO_TIME, dtype=np.int64)]))
        self.row = np.concatenate([self.row, np.full(extra, -1, dtype=np.int64)])

    def apply(self, payments: np.ndarray, statuses: np.ndarray, ts_us: np.ndarray,
              valid_before_us: np.ndarray | None = None) -> BlockFold:
        """Fold events given in file order: payment codes, state codes of their statuses (see
        `status_codes`), times, and `valid_before` (NO_TIME when absent)."""
        n = len(payments)
        self.grow(int(payments.max()) + 1 if n else 0)
        accepted = np.zeros(n, dtype=bool)
        from_state = np.zeros(n, dtype=np.int8)
        if not n:
            return BlockFold(accepted, from_state)
        order = np.argsort(payments, kind="stable")  # each payment's events together, in file order
        grouped = payments[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
        rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
        by_rank = np.argsort(rank, kind="stable")
        bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2))
        for k in range(len(bounds) - 1):
            rows = order[by_rank[bounds[k]: bounds[k + 1]]]  # the k-th event of each payment that has one
            codes = payments[rows]
            before = self.state[codes]
            ok = TRANSITIONS[before, statuses[rows] - 1]
            from_state[rows] = before
            accepted[rows] = ok
            took = rows[ok]
            taken = codes[ok]
            self.state[taken] = statuses[took]
            self.entered_us[taken] = ts_us[took]
            self.valid_before_us[taken] = NO_TIME if valid_before_us is None else valid_before_us[took]
            self.row[taken] = took
            first = before[ok] == 0
            self.first_authorized_us[taken[first]] = np.where(
                statuses[took[first]] == STATE_CODES["authorized"], ts_us[took[first]], NO_TIME)
        return BlockFold(accepted, from_state)

    def open_codes(self) -> np.ndarray:
        """The payments now `authorized` or `settlement_pending`."""
        return np.flatnonzero(np.isin(self.state, OPEN_CODES))

    def stale(self, now_us: int, stale_after_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The open payments that are stale at `now_us`: (codes, kind index into `STALE_KINDS`, since).

        An `authorized` payment past its `valid_before` is `expired_authorization` (not also stale),
        else `stale_authorization` once authorized (since its first `authorized`) for more than
        the threshold; a `settlement_pending` one is `stale_settlement` once pending for more than it.
        """
        codes = self.open_codes()
        state = self.state[codes]
        authorized = state == STATE_CODES["authorized"]
        since = np.where(authorized, self.first_authorized_us[codes], self.entered_us[codes])
        valid_before = self.valid_before_us[codes]
        expired = authorized & (valid_before != NO_TIME) & (now_us > valid_before)
        overdue = (now_us - since) > stale_after_us
        kind = np.where(expired, 1, np.where(authorized, 0, 2))
        keep = expired | overdue
        return codes[keep], kind[keep], since[keep]


class VendorStreaks:
    """Each vendor's run of accepted `failed` events after its latest accepted `captured`, in time
    order (file order breaks ties): the failure streak of §5, reset by a success. Outcomes may be
    added in any order and in any number of calls; the streaks are those of all of them."""

    def __init__(self) -> None:
        self._last_success: dict[str, tuple[int, int]] = {}
        self._failures: dict[str, list[tuple[int, int]]] = {}  # sorted; only those after the last success

    def add(self, vendor_codes: np.ndarray, vendor_names: Sequence[str], ts_us: np.ndarray, lines: np.ndarray,
            failed: np.ndarray) -> None:
        """Outcomes (accepted `captured` or `failed` events): each one's vendor (a code into
        `vendor_names`), time, line, and whether it failed."""
        if not len(vendor_codes):
            return
        order = np.lexsort((lines, ts_us, vendor_codes))  # by vendor, then in time order
        grouped = vendor_codes[order]
        bounds = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1], True])
        for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            rows = order[start:end]
            vendor = vendor_names[int(vendor_codes[rows[0]])]
            successes = np.flatnonzero(~failed[rows])
            failures = self._failures.setdefault(vendor, [])
            if len(successes):
                last = int(rows[successes[-1]])
                key = (int(ts_us[last]), int(lines[last]))
                if vendor not in self._last_success or key > self._last_success[vendor]:
                    self._last_success[vendor] = key
                    failures[:] = [f for f in failures if f > key]
                rows = rows[successes[-1] + 1:]  # only failures after the block's last success can count
            success = self._last_success.get(vendor)
            new = [(t, n) for t, n in zip(ts_us[rows].tolist(), lines[rows].tolist(), strict=True)
                   if success is None or (t, n) > success]
            if new:
                failures.extend(new)
                failures.sort()

    def streaks(self) -> dict[str, int]:
        """Every vendor with an outcome, and its current streak (0 after a success)."""
        return {vendor: len(failures) for vendor, failures in sorted(self._failures.items())}

    def to_dict(self) -> dict[str, Any]:
        """The open streak state, JSON-able, for a checkpoint (`from_dict` reads it back)."""
        return {"last_success": {vendor: list(key) for vendor, key in self._last_success.items()},
                "failures": {vendor: [list(f) for f in failures] for vendor, failures in self._failures.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VendorStreaks:
        streaks = cls()
        streaks._last_success = {vendor: (key[0], key[1]) for vendor, key in data["last_success"].items()}
        streaks._failures = {vendor: [(f[0], f[1]) for f in failures] for vendor, failures in data["failures"].items()}
        return streaks


@dataclass
class FrameFold:
    """The fold of a frame of events (`frames.read_payment_events_frame`, rows in file order)."""

    book: PaymentBook
    ids: Any  # payment id by code (a pandas Index of the distinct ids, in order of first sight)
    codes: np.ndarray  # each row's payment code
    statuses: np.ndarray  # each row's state code
    accepted: np.ndarray  # each row: an allowed transition (False: an `invalid_transition`)
    invalid: list[InvalidTransition]

    def findings(self) -> list[dict[str, Any]]:
        return [t.finding() for t in self.invalid]


def fold_frame(events: Any) -> FrameFold:
    """Every payment's state from a frame with `payment_id`, `status`, `ts`, `line` (and optionally
    `valid_before`), in file order — the jobs' batch use of `PaymentBook`."""
    order = np.argsort(events["line"].to_numpy(), kind="stable")
    ordered = events.iloc[order] if not (np.diff(order) == 1).all() else events
    codes, uniques = _factorize(ordered["payment_id"])
    statuses = column_status_codes(ordered["status"])
    ts = _micros(ordered["ts"])
    valid_before = _micros(ordered["valid_before"]) if "valid_before" in ordered else None
    book = PaymentBook()
    book.grow(len(uniques))
    fold = book.apply(codes, statuses, ts, valid_before)
    lines = ordered["line"].to_numpy()
    ids = pd.Index(uniques)
    invalid = fold.invalid(lambda k: str(ids[codes[k]]), statuses, lines)
    if len(order) and not (np.diff(order) == 1).all():  # back to the frame's own row order
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        codes, statuses, accepted = codes[back], statuses[back], fold.accepted[back]
        book.row = np.where(book.row >= 0, order[np.maximum(book.row, 0)], -1)
    else:
        accepted = fold.accepted
    return FrameFold(book, ids, codes, statuses, accepted, invalid)


def column_status_codes(status: Any) -> np.ndarray:
    """State codes of a status column; a categorical one (the frames') through its categories."""
    if not len(status):
        return np.zeros(0, dtype=np.int8)
    if isinstance(status.dtype, pd.CategoricalDtype):
        return status_codes(list(status.cat.categories))[status.cat.codes.to_numpy()]
    return status_codes(status.astype(str).to_numpy())


def _factorize(ids: Any) -> tuple[np.ndarray, Any]:
    codes, uniques = pd.factorize(ids, sort=False)
    return codes.astype(np.int64, copy=False), uniques


def _micros(times: Any) -> np.ndarray:
    """Times as int64 µs since the epoch (absent: NO_TIME)."""
    return times.to_numpy(dtype="datetime64[us]").view(np.int64) if len(times) else np.zeros(0, np.int64)


class _Labels:
    """A column of strings as int32 codes into a short list of labels (agents, vendors: a few hundred)."""

    def __init__(self, codes: np.ndarray | None = None, labels: list[str] | None = None) -> None:
        self.codes = np.zeros(0, dtype=np.int32) if codes is None else codes
        self.labels = [""] if labels is None else labels  # code 0: none yet
        self._index = {label: code for code, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, code: int) -> str:
        return self.labels[int(self.codes[code])]

    def grow(self, n: int) -> None:
        if n > len(self.codes):
            self.codes = np.concatenate([self.codes, np.zeros(n - len(self.codes), dtype=np.int32)])

    def codes_of(self, column: Any) -> np.ndarray:
        """Each row's label code (new labels are added)."""
        local, distinct = _dictionary(column)
        glob = np.array([self._label(v) for v in distinct.to_pylist()], dtype=np.int32)
        return glob[local] if len(glob) else np.zeros(len(local), dtype=np.int32)

    def _label(self, value: str) -> int:
        code = self._index.get(value)
        if code is None:
            code = self._index[value] = len(self.labels)
            self.labels.append(value)
        return code

    def to_arrow(self) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(self.codes, pa.int32()), pa.array(self.labels, pa.string()))

    @classmethod
    def from_arrow(cls, column: pa.ChunkedArray) -> _Labels:
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        # An empty column may come back from the file without its dictionary: code 0 is "" then.
        return cls(np.array(array.indices.to_numpy(zero_copy_only=False), dtype=np.int32),
                   array.dictionary.to_pylist() or [""])


class _IdView:
    """`fold.ids`: the payment id of each code (`len`, `[code]`), without a Python string per payment."""

    def __init__(self, ids: PaymentIds) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, code: int) -> str:
        return self._ids.id_of(int(code))


def _dictionary(column: Any) -> tuple[np.ndarray, pa.Array]:
    """A frame's string column (or a list of strings) as (row codes, distinct values), through Arrow."""
    array = pa.array(column, pa.string()) if not isinstance(column, pa.Array) else column
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


class PaymentFold:
    """The state machine's book over every payment seen, with what a finding names of each (the
    agent, vendor and amount of the event that brought it to its state): the incremental form the
    checkpointed jobs keep, one frame of new events at a time.

    Nothing here is a Python object per payment: ids are `PaymentIds` (after a checkpoint, a sorted
    key index read from the mapped file), agents and vendors int32 codes into short label lists,
    so a run from a checkpoint of millions of payments costs what its new lines cost."""

    def __init__(self) -> None:
        self.book = PaymentBook()
        self.payment_ids = PaymentIds()
        self._agents = _Labels()
        self._vendors = _Labels()
        self.amounts = np.zeros(0, dtype=np.int64)
        # Per row of the last frame applied: whether the state machine accepted it, and its state code.
        self.accepted = np.zeros(0, dtype=bool)
        self.statuses = np.zeros(0, dtype=np.int8)

    @property
    def ids(self) -> _IdView:
        return _IdView(self.payment_ids)

    @property
    def agents(self) -> _Labels:
        return self._agents

    @property
    def vendors(self) -> _Labels:
        return self._vendors

    def apply(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Fold the frame's events (file order); the `invalid_transition` findings among them."""
        if frame.empty:
            self.accepted, self.statuses = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int8)
            return []
        local, distinct = _dictionary(frame["payment_id"])
        codes = self.payment_ids.encode(distinct)[local]
        statuses = column_status_codes(frame["status"])
        fold = self.book.apply(codes, statuses, _micros(frame["ts"]), _micros(frame["valid_before"])
                               if "valid_before" in frame else None)
        self.accepted, self.statuses = fold.accepted, statuses  # of the frame just applied
        self.grow()
        touched = np.unique(codes[fold.accepted])
        rows = self.book.row[touched]
        self._agents.codes[touched] = self._agents.codes_of(frame["agent"])[rows]
        self._vendors.codes[touched] = self._vendors.codes_of(frame["vendor"])[rows]
        self.amounts[touched] = frame["amount_micro"].to_numpy()[rows]
        lines = frame["line"].to_numpy()
        return [t.finding() for t in fold.invalid(lambda k: distinct[int(local[k])].as_py(), statuses, lines)]

    def codes_of(self, payment_ids: Any) -> np.ndarray:
        """Each id's code, new ids (no event yet) given the next ones; `grow` makes room for them."""
        if not len(payment_ids):
            return np.zeros(0, dtype=np.int64)
        local, distinct = _dictionary(payment_ids)
        return self.payment_ids.encode(distinct)[local]

    def grow(self) -> None:
        """Room in the book and the details for every code given out."""
        n = len(self.payment_ids)
        self.book.grow(n)
        self._agents.grow(n)
        self._vendors.grow(n)
        if n > len(self.amounts):
            self.amounts = np.concatenate([self.amounts, np.zeros(n - len(self.amounts), dtype=np.int64)])

    def to_table(self) -> pa.Table:
        book = self.book
        return pa.table({
            **self.payment_ids.to_columns(), "state": book.state,
            "first_authorized_us": book.first_authorized_us, "entered_us": book.entered_us,
            "valid_before_us": book.valid_before_us, "agent": self._agents.to_arrow(),
            "vendor": self._vendors.to_arrow(), "amount_micro": self.amounts,
        })

    @classmethod
    def from_table(cls, table: pa.Table) -> PaymentFold:
        """The fold `to_table` saved: ids stay in the (mapped) table; the arrays written to are copied."""
        fold = cls()
        ids = table.column("payment_id")
        fold.payment_ids = PaymentIds.from_columns(ids.chunk(0) if ids.num_chunks == 1 else ids.combine_chunks(),
                                                   _numpy(table, "id_key"), _numpy(table, "id_code"))
        fold.book.grow(len(fold.payment_ids))
        fold.book.state = np.array(_numpy(table, "state"), dtype=np.int8)
        for name in ("first_authorized_us", "entered_us", "valid_before_us"):
            setattr(fold.book, name, np.array(_numpy(table, name), dtype=np.int64))
        fold._agents = _Labels.from_arrow(table.column("agent"))
        fold._vendors = _Labels.from_arrow(table.column("vendor"))
        fold.amounts = np.array(_numpy(table, "amount_micro"), dtype=np.int64)
        return fold


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    return (column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()).to_numpy()
