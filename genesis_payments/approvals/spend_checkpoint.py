"""The spend state's checkpoint (§5, issue #15): a warm start for `GenesisMetaAgent` and `SpendFollower`.

What is kept is everything the approval log and the transaction log left in the readers' memory:
each intent's `SpendState` (latest decision, cost, keys, period, whether its payments released it),
the reservations per (scope, key, period), the payments' statuses per intent, the reviews waiting,
the halts in force, the policy hash the chain last named, the approvals inside the velocity window,
and where both files were read up to (`checkpoints.FilePosition`: identity, offset, line count and
the bytes just before it) with the chain's hash at that line and its first break, if any.

Settled intents of months the budgets never look at again (`SpendState.archived`) are kept as an
`ArchivedIndex`: a sorted array of 64-bit keys of their ids and where their latest decision is, read
straight from the memory-mapped file, so a million-decision log starts without a million Python
objects. A key that matches is confirmed by reading that decision's line (two ids may share a key).

A checkpoint is written under the approval log's lock, after the reader has followed both files to
their end (never before), atomically (`checkpoints.save_checkpoint`): so two processes never write
one at the same time, and whichever writes last leaves a checkpoint that is true of the files. One
that does not match the files (another code VERSION, unreadable, a file truncated, replaced,
rotated or rewritten before its offset, a head recorded behind it, a clock before it) is not used:
the reason is logged and kept on the reader, and it rebuilds from both files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.approvals.halts import Halt, HaltBook
from genesis_payments.approvals.spend_state import IntentState, SpendState
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc
from genesis_payments.ledgers.approval_log import ChainTail, LogView
from genesis_payments.ledgers.chain_head import Head
from genesis_payments.ledgers.checkpoints import (
    Checkpoint,
    FilePosition,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from genesis_payments.ledgers.sources import FileEventFollower

READER = "spend-state"
ARCHIVED, LIVE, PAYMENT, LATEST = 0, 1, 2, 3  # the kinds of row of the checkpoint's table
_STRINGS = ("intent_id", "decision", "agent", "vendor", "business", "day", "month", "payment_id", "status")


@functools.lru_cache(maxsize=64)  # a decision looks its intent up in the live rows, then the archived ones
def intent_key(intent_id: str) -> int:
    """A stable 64-bit key of an intent id (BLAKE2b; Python's own `hash` changes from process to process)."""
    return int.from_bytes(hashlib.blake2b(intent_id.encode(), digest_size=8).digest(), "little")


def _equal_range(keys: np.ndarray, key: int) -> range:
    """The positions of `key` in the sorted `keys` (one search: most look-ups find nothing)."""
    lo = int(keys.searchsorted(np.uint64(key)))  # a numpy scalar: a Python int would convert the array
    hi = lo
    while hi < len(keys) and int(keys[hi]) == key:
        hi += 1
    return range(lo, hi)


class ArchivedIndex:
    """Settled intents of older months: sorted keys and `offset << 24 | length` of their latest decision.

    `verify(intent_id, offset, length)` reads the decision there and says whether it is this
    intent's (a key is 64 bits of a hash: another id may have it); without it a key match is taken.
    """

    def __init__(self, keys: np.ndarray, packed: np.ndarray,
                 verify: Callable[[str, int, int], bool] | None = None) -> None:
        self.keys = keys
        self.packed = packed
        self.verify = verify

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, intent_id: str) -> tuple[int, int] | None:
        for j in reversed(_equal_range(self.keys, intent_key(intent_id))):  # archived twice: the latest is last
            packed = int(self.packed[j])
            offset, length = packed >> 24, packed & 0xFFFFFF
            if self.verify is None or self.verify(intent_id, offset, length):
                return offset, length
        return None

    def merged(self, archived: dict[str, int]) -> ArchivedIndex:
        """This index with the dict's entries added (sorted by key, then by position in the log)."""
        if not archived:
            return ArchivedIndex(self.keys, self.packed, self.verify)
        keys = np.array([intent_key(i) for i in archived], dtype=np.uint64)
        packed = np.fromiter(archived.values(), dtype=np.int64, count=len(archived))
        order = np.lexsort((packed, keys))
        keys, packed = keys[order], packed[order]
        # After the entries of the same key already there: a later decision is further into the log.
        at = np.searchsorted(self.keys, keys, "right")
        return ArchivedIndex(np.insert(self.keys, at, keys), np.insert(self.packed, at, packed), self.verify)


class LazyIntents(dict):
    """`SpendState.intents` after a warm start: the checkpoint's intents stay rows of the mapped
    table (sorted by `intent_key`) until one is asked for, then become an `IntentState` in the dict.
    A start on a log of a million decisions so makes no object for the intents nobody touches.
    Iterating (a checkpoint being written) makes them all."""

    def __init__(self, rows: pa.Table) -> None:
        super().__init__()
        self._rows = rows
        self._keys = rows.column("key").to_numpy() if rows.num_rows else np.zeros(0, dtype=np.uint64)
        self._ids = rows.column("intent_id")
        self._taken = np.zeros(rows.num_rows, dtype=bool)
        self._missed: str | None = None  # the rows never change: an id not among them stays so

    def _row(self, intent_id: str) -> int | None:
        if intent_id == self._missed:
            return None
        row = self._find(intent_id)
        if row is None:
            self._missed = intent_id
        return row

    def _find(self, intent_id: str) -> int | None:
        return next((r for r in _equal_range(self._keys, intent_key(intent_id))
                     if not self._taken[r] and self._ids[r].as_py() == intent_id), None)

    def _take(self, row: int) -> IntentState:
        r = {name: self._rows.column(name)[row].as_py() for name in _LIVE}
        state = IntentState(r["decision"], r["micro"], r["agent"], r["vendor"], r["business"], r["day"], r["month"],
                            r["offset"], r["length"])
        state.released = r["released"]
        self._taken[row] = True
        dict.__setitem__(self, r["intent_id"], state)
        return state

    def get(self, intent_id: Any, default: Any = None) -> Any:
        found = dict.get(self, intent_id)
        if found is None and len(self._keys) and isinstance(intent_id, str):
            row = self._row(intent_id)
            if row is not None:
                return self._take(row)
        return default if found is None else found

    def __missing__(self, intent_id: str) -> IntentState:
        found = self.get(intent_id)
        if found is None:
            raise KeyError(intent_id)
        return found

    def __contains__(self, intent_id: object) -> bool:
        return self.get(intent_id) is not None

    def untouched(self) -> int:
        return int((~self._taken).sum())

    def untouched_rows(self) -> pa.Table:
        return self._rows.filter(pa.array(~self._taken))

    def _all(self) -> None:
        for row in np.flatnonzero(~self._taken).tolist():
            self._take(row)

    def __len__(self) -> int:
        return dict.__len__(self) + int((~self._taken).sum())

    def __iter__(self) -> Any:
        self._all()
        return dict.__iter__(self)

    def keys(self) -> Any:
        self._all()
        return dict.keys(self)

    def values(self) -> Any:
        self._all()
        return dict.values(self)

    def items(self) -> Any:
        self._all()
        return dict.items(self)


_LIVE = ("intent_id", "decision", "micro", "agent", "vendor", "business", "day", "month", "offset", "length",
         "released")


def empty_index() -> ArchivedIndex:
    return ArchivedIndex(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))


def log_verifier(path: Path) -> Callable[[str, int, int], bool]:
    """Reads the approval-log line at (offset, length) and says whether it is a decision of the intent."""

    def verify(intent_id: str, offset: int, length: int) -> bool:
        try:
            with open(path, "rb") as handle:
                raw = os.pread(handle.fileno(), length, offset)
            return json.loads(raw).get("intent_id") == intent_id
        except (OSError, ValueError, AttributeError):
            return False

    return verify


@dataclass
class SpendSnapshot:
    """What a reader of both logs had when it last caught up (see the module docstring)."""

    state: SpendState
    halts: HaltBook
    tail_offset: int
    tail_lines: int
    last_hash: str
    broken: str | None
    chain_policy: str | None
    approved_recently: dict[str, list[str]]
    saved_at: str
    positions: dict[str, FilePosition]


def spend_checkpoint_path(settings: Settings) -> Path:
    return checkpoint_path(settings.state_dir, READER)


def save_spend_checkpoint(settings: Settings, state: SpendState, halts: HaltBook, tail: ChainTail,
                          events: FileEventFollower, *, chain_policy: str | None,
                          approved_recently: dict[str, deque[str]], now: datetime, recent_since: str) -> None:
    """Write the checkpoint (call under the approval log's lock, once both files were followed)."""
    index = (state.archived_index or empty_index()).merged(state.archived)
    archived = _part(ARCHIVED, len(index), key=index.keys, packed=index.packed)
    live = _live_rows(state.intents)
    n_pay = sum(len(p) for p in state.payment_statuses.values())
    payments = _part(PAYMENT, n_pay,
                     intent_id=[i for i, p in state.payment_statuses.items() for _ in p],
                     payment_id=[pid for p in state.payment_statuses.values() for pid in p],
                     status=[status for p in state.payment_statuses.values() for status in p.values()])
    latest = _part(LATEST, len(state.latest_status), intent_id=list(state.latest_status),
                   status=list(state.latest_status.values()))
    table = pa.concat_tables([archived, live, payments, latest])
    n_live = live.num_rows
    pending = set(state.pending_ids)
    extra = {
        "rows": {"archived": len(index), "live": n_live, "payments": n_pay, "latest": len(state.latest_status)},
        "spent": [[*k, v] for k, v in state.spent.items()],
        "reviews": [[ts, iid] for ts, iid in state.review_deadlines if iid in pending],
        "pending": sorted(pending),
        "bad_lines": state.bad_lines,
        "horizon": state.horizon,
        "halts": [asdict(h) for h in halts.active.values()],
        "last_hash": tail.last_hash,
        "broken": tail.broken,
        "chain_policy": chain_policy,
        "approved_recently": {agent: [ts for ts in times if ts > recent_since]
                              for agent, times in approved_recently.items()},
        "saved_at": format_utc(now),
    }
    positions = {"approval_log": FilePosition.of(settings.approval_log_path, tail.offset, tail.lines),
                 "transactions": FilePosition.of(settings.transactions_path, events.offset, events.line_number)}
    save_checkpoint(spend_checkpoint_path(settings), Checkpoint(table, positions, extra))
    state.archived_index, state.archived = ArchivedIndex(index.keys, index.packed, index.verify), {}


_SCHEMA = pa.schema([("kind", pa.int8()), ("key", pa.uint64()), ("packed", pa.int64()),
                     *[(name, pa.string()) for name in _STRINGS], ("micro", pa.int64()), ("released", pa.bool_()),
                     ("offset", pa.int64()), ("length", pa.int64())])


def _part(kind: int, n: int, **columns: Any) -> pa.Table:
    """`n` rows of one kind in the checkpoint's schema (columns not given are null)."""
    arrays = []
    for f in _SCHEMA:
        if f.name == "kind":
            arrays.append(pa.array(np.full(n, kind, np.int8)))
        elif f.name in columns:
            arrays.append(pa.array(columns[f.name], f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)


def _live_rows(intents: dict[str, IntentState]) -> pa.Table:
    """The intents' rows sorted by key (as `LazyIntents` looks them up): rows of a warm start nobody
    touched are copied from the mapped table as they are, without becoming objects."""
    fresh = list(dict.items(intents))
    table = _part(LIVE, len(fresh), key=[intent_key(i) for i, _ in fresh], intent_id=[i for i, _ in fresh],
                  **{name: [getattr(s, name) for _, s in fresh] for name in _LIVE if name != "intent_id"})
    if isinstance(intents, LazyIntents) and intents.untouched():
        kept = intents.untouched_rows()
        table = pa.concat_tables([kept.select(_SCHEMA.names).cast(_SCHEMA), table])
    return table.take(pc.sort_indices(table, [("key", "ascending")]))


def load_spend_checkpoint(settings: Settings, view: LogView, now: datetime, horizon: str,
                          head: Head | None) -> tuple[SpendSnapshot | None, str | None]:
    """The snapshot if it still describes both files (`view`: the approval log, open), else why not."""
    checkpoint, reason = load_checkpoint(spend_checkpoint_path(settings))
    if checkpoint is None:
        return None, reason
    try:
        return _snapshot(settings, checkpoint, view, now, horizon, head)
    except (KeyError, TypeError, ValueError, IndexError, pa.ArrowException) as exc:
        return None, f"checkpoint {READER} does not hold what it should ({type(exc).__name__}): rebuilt"


def _snapshot(settings: Settings, checkpoint: Checkpoint, view: LogView, now: datetime, horizon: str,
              head: Head | None) -> tuple[SpendSnapshot | None, str | None]:
    extra, positions = checkpoint.extra, checkpoint.positions
    log_position = positions["approval_log"]
    files = (("approval_log", settings.approval_log_path), ("transactions", settings.transactions_path))
    for name, path in files:
        why = positions[name].changed(path)
        if why is not None:
            return None, why + ": rebuilt from both logs"
    if log_position.offset and (log_position.dev, log_position.ino) != view.identity:
        return None, f"{settings.approval_log_path.name} was replaced (another file): rebuilt from both logs"
    if log_position.offset > view.size:
        return None, f"{settings.approval_log_path.name} was truncated: rebuilt from both logs"
    if extra["saved_at"] > format_utc(now):
        return None, f"the clock ({format_utc(now)}) is before the checkpoint's ({extra['saved_at']}): rebuilt"
    if extra["horizon"] > horizon:
        return None, "the checkpoint's budget horizon is after this clock's month: rebuilt"
    if head is not None and head.lines < log_position.lines:
        return None, (f"the recorded head (line {head.lines}) is behind the checkpoint "
                      f"(line {log_position.lines}): rebuilt")
    table = checkpoint.table
    rows = extra["rows"]
    cut = np.cumsum([0, rows["archived"], rows["live"], rows["payments"], rows["latest"]]).tolist()
    if cut[-1] != table.num_rows:
        return None, f"checkpoint {READER} has {table.num_rows} rows, not {cut[-1]}: rebuilt"
    state = SpendState(horizon=extra["horizon"], bad_lines=extra["bad_lines"])
    archived = table.slice(0, cut[1])
    state.archived_index = ArchivedIndex(archived.column("key").to_numpy(), archived.column("packed").to_numpy(),
                                         log_verifier(settings.approval_log_path))
    state.intents = LazyIntents(table.slice(cut[1], cut[2] - cut[1]))
    payments = table.slice(cut[2], cut[3] - cut[2]).select(["intent_id", "payment_id", "status"]).to_pydict()
    for iid, pid, status in zip(*payments.values(), strict=True):
        state.payment_statuses.setdefault(iid, {})[pid] = status
    latest = table.slice(cut[3], cut[4] - cut[3]).select(["intent_id", "status"]).to_pydict()
    state.latest_status = dict(zip(*latest.values(), strict=True))
    state.spent = {(scope, key, period): micro for scope, key, period, micro in extra["spent"]}
    state.review_deadlines = sorted((ts, iid) for ts, iid in extra["reviews"])
    state.pending_ids = set(extra["pending"])
    halts = HaltBook()
    for h in extra["halts"]:
        halt = Halt(**h)
        halts.active[(halt.scope, halt.key)] = halt
    return SpendSnapshot(state, halts, log_position.offset, log_position.lines, extra["last_hash"], extra["broken"],
                         extra["chain_policy"], extra["approved_recently"], extra["saved_at"], positions), None
