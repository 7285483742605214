"""Halts, the kill switch of §8: `halt` and `resume` records in the approval log's hash chain.

A halt covers everything (`all`), one agent or one vendor. While it is in force the meta agent
denies every new intent in its scope (checked under the log's lock, like the budgets, so from the
very next decision in every process) and the buyer refuses every capture in it (`active_halt`);
cancelling still works. A halt stays until a `resume` for the same scope and key lifts it.

Halts do not need a working policy: an operator must be able to stop agents whatever state the
policy file is in, so this module only follows the chain.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from genesis_payments.core.errors import PaymentsError
from genesis_payments.core.records import HaltRecord, ResumeRecord
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.approval_log import GENESIS_HASH, ApprovalLog, LogHandle, LogView, open_approval_log
from genesis_payments.ledgers.jsonl import describe_validation_error

SCOPES = ("all", "agent", "vendor")


class HaltError(PaymentsError):
    """A halt or resume that cannot be recorded: bad scope, no reason, nothing to resume, already halted."""


@dataclass(frozen=True)
class Halt:
    """One halt in force."""

    halt_id: str
    scope: str
    key: str | None
    reason: str
    by: str
    ts: str

    @property
    def target(self) -> str:
        return "everything" if self.scope == "all" else f"{self.scope} {self.key!r}"

    def covers(self, agent: str | None, vendor: str | None) -> bool:
        if self.scope == "all":
            return True
        return (self.scope == "agent" and agent == self.key) or (self.scope == "vendor" and vendor == self.key)

    def describe(self) -> str:
        return f"halt {self.halt_id} of {self.target} by {self.by} since {self.ts}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"halt_id": self.halt_id, "scope": self.scope, "key": self.key, "reason": self.reason,
                "by": self.by, "ts": self.ts}


class HaltBook:
    """The halts in force after the records seen so far, in log order."""

    def __init__(self) -> None:
        self.active: dict[tuple[str, str | None], Halt] = {}

    def apply(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "halt":
            halt = Halt(record["halt_id"], record["scope"], record.get("key"), record["reason"], record["by"],
                        record["ts"])
            self.active.setdefault((halt.scope, halt.key), halt)
        elif kind == "resume":
            scope_key = (record["scope"], record.get("key"))
            held = self.active.get(scope_key)
            if held is not None and held.halt_id == record["halt_id"]:
                del self.active[scope_key]

    def find(self, agent: str | None = None, vendor: str | None = None) -> Halt | None:
        """The halt that covers this agent or vendor (all first, then agent, then vendor), if any."""
        for scope_key in (("all", None), ("agent", agent), ("vendor", vendor)):
            halt = self.active.get(scope_key)
            if halt is not None:
                return halt
        return None


def check_scope(scope: str, key: str | None) -> str | None:
    """The key to record for a scope (None for `all`); HaltError for a scope without its key."""
    if scope not in SCOPES:
        raise HaltError(f"unknown halt scope {scope!r}; use one of {', '.join(SCOPES)}")
    if scope == "all":
        if key:
            raise HaltError("a halt of everything (--all) takes no agent or vendor")
        return None
    if not key or not key.strip():
        raise HaltError(f"a halt of one {scope} needs the {scope} id")
    return key


def halt(settings: Settings, scope: str, key: str | None, *, reason: str, by: str,
         clock: Callable[[], datetime] = utc_now) -> Halt:
    """Record a halt; in force from the next decision on, in every process."""
    key = check_scope(scope, key)
    _require_text(reason, "a halt needs a reason (--reason)")
    _require_text(by, "a halt needs the name of who halts (--by)")
    halt_id = uuid.uuid4().hex  # the same on a retried transaction: a halt that did commit is found again

    def build(book: HaltBook) -> dict[str, Any]:
        held = book.active.get((scope, key))
        if held is not None and held.halt_id == halt_id:
            raise _AlreadyRecorded({"halt_id": held.halt_id, "ts": held.ts})
        if held is not None:
            raise HaltError(f"{held.target} is already halted: {held.describe()}")
        return {"kind": "halt", "halt_id": halt_id, "ts": format_utc(clock()), "scope": scope,
                "key": key, "reason": reason, "by": by}

    record = _append_control(settings, HaltRecord, build)
    return Halt(record["halt_id"], scope, key, reason, by, record["ts"])


def resume(settings: Settings, scope: str, key: str | None, *, by: str, reason: str | None = None,
           clock: Callable[[], datetime] = utc_now) -> Halt:
    """Lift the halt in force for exactly this scope and key; returns the halt lifted."""
    key = check_scope(scope, key)
    _require_text(by, "a resume needs the name of who resumes (--by)")
    lifted: list[Halt] = []

    def build(book: HaltBook) -> dict[str, Any]:
        held = book.active.get((scope, key))
        if held is None:
            target = "everything" if scope == "all" else f"{scope} {key!r}"
            others = ", ".join(h.target for h in book.active.values()) or "none"
            raise HaltError(f"nothing to resume: {target} is not halted (halts in force: {others})")
        lifted.append(held)
        body = {"kind": "resume", "halt_id": held.halt_id, "ts": format_utc(clock()), "scope": scope,
                "key": key, "by": by}
        if reason:
            body["reason"] = reason
        return body

    _append_control(settings, ResumeRecord, build)
    return lifted[0]


def _require_text(value: str | None, message: str) -> None:
    if value is None or not value.strip():
        raise HaltError(message)


class _AlreadyRecorded(Exception):  # not an error: a retried append that had committed
    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record


def _append_control(settings: Settings, model: type[BaseModel],
                    build: Callable[[HaltBook], dict[str, Any]]) -> dict[str, Any]:
    """Under the log's lock: follow the chain, build the record from the halts in force, append it."""
    log = open_approval_log(settings)

    def append(handle: LogHandle) -> dict[str, Any]:
        tail, book = log.new_tail(), HaltBook()
        handle.follow(tail, lambda record, _offset, _length: book.apply(record))
        tail.refuse_if_broken(log.path)
        try:
            built = build(book)
        except _AlreadyRecorded as done:
            return done.record
        body = {k: v for k, v in built.items() if v is not None}
        body["prev_hash"] = tail.last_hash
        try:
            model.model_validate({**body, "hash": GENESIS_HASH})
        except ValidationError as exc:
            raise HaltError(f"invalid {body['kind']} record: {describe_validation_error(exc)}") from None
        digest, _offset, _length = handle.append_record(tail, body)
        return {**body, "hash": digest}

    return log.run_locked(append)


# -- reading halts without the lock (the buyer, `status`, the exporter) ---------------------------

class _Follower:
    """One process's view of the halts of one log, read incrementally."""

    def __init__(self, log: ApprovalLog) -> None:
        self.log = log
        self.tail = log.new_tail()
        self.book = HaltBook()
        self.lock = threading.Lock()

    def update(self, view: LogView | None) -> HaltBook:
        with self.lock:
            if view is None:
                self.tail = self.log.new_tail()
                self.book = HaltBook()
                return self.book
            view.follow(self.tail, self._apply, on_reset=self._start_over)
            return self.book

    def _apply(self, record: dict[str, Any], _offset: int, _length: int) -> None:
        self.book.apply(record)

    def _start_over(self) -> None:
        self.book = HaltBook()


_FOLLOWERS: dict[str, _Follower] = {}
_FOLLOWERS_LOCK = threading.Lock()


def active_halts(settings: Settings) -> list[Halt]:
    """Every halt in force, oldest first (reads only records appended since this process last asked)."""
    log = open_approval_log(settings)
    with _FOLLOWERS_LOCK:
        follower = _FOLLOWERS.get(log.where)
        if follower is None:
            follower = _FOLLOWERS[log.where] = _Follower(log)
    with follower.log.viewed() as view:
        book = follower.update(view)
    return sorted(book.active.values(), key=lambda h: h.ts)


def active_halt(settings: Settings, *, agent: str | None = None, vendor: str | None = None) -> Halt | None:
    """The halt in force that covers this agent or vendor, or None. The buyer's capture asks this."""
    for held in active_halts(settings):
        if held.covers(agent, vendor):
            return held
    return None


__all__ = ["Halt", "HaltBook", "HaltError", "active_halt", "active_halts", "halt", "resume"]
