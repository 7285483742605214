"""Budget reservations derived from the logs: what each agent, vendor and business has committed.

An intent reserves its cost from its first `approved` or `pending_review` decision until a later
decision denies it (a review, a review timeout) or its payment's latest event in `transactions.jsonl`
is `cancelled`, `failed` or `expired` (the reservation is given back; a later `authorized` event for
the same intent takes it again). The reservation counts in the UTC day and month of the intent's
first decision. Everything here is rebuilt from the two files on start and then kept current by
applying only appended lines, so a restart loses nothing and no decision re-reads a whole file.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from genesis_payments.core.money import parse_micro
from genesis_payments.core.timestamps import parse_utc

RESERVING = frozenset({"approved", "pending_review"})
RELEASING_STATUSES = frozenset({"cancelled", "failed", "expired"})
SCOPE_FIELDS = (("agent", "agent"), ("vendor", "vendor"), ("business", "business_id"))


class IntentState:
    """What the budgets need to know about one intent (slots: there may be a million of them)."""

    __slots__ = ("agent", "business", "day", "decision", "length", "micro", "month", "offset", "released", "vendor")

    def __init__(self, decision: str, micro: int, agent: str, vendor: str, business: str, day: str, month: str,
                 offset: int, length: int) -> None:
        self.decision = decision
        self.micro = micro
        self.agent = agent
        self.vendor = vendor
        self.business = business
        self.day = day  # interned by the caller: a million intents share a few hundred of these
        self.month = month
        self.offset = offset
        self.length = length
        self.released = False

    @property
    def reserving(self) -> bool:
        return self.decision in RESERVING and not self.released


def micro_from_text(text: str) -> int:
    """Micro-USDC of a money string; `InvalidMoney` (a ValueError) otherwise. Parsed by `core.money`."""
    return parse_micro(text)


@dataclass
class SpendState:
    """Reservations per (scope, id, period) in micro-USDC, and each intent's latest decision."""

    intents: dict[str, IntentState] = field(default_factory=dict)
    spent: dict[tuple[str, str, str], int] = field(default_factory=dict)
    latest_status: dict[str, str] = field(default_factory=dict)
    review_deadlines: list[tuple[str, str]] = field(default_factory=list)
    bad_lines: int = 0
    # Months before this one ("YYYY-MM") are never asked about again, so their totals are not kept:
    # a restart on a year-long log then only sums what budgets can still see.
    horizon: str = ""
    # Settled intents of those older months: only where their latest decision is (offset << 24 | length).
    archived: dict[str, int] = field(default_factory=dict)
    pending_ids: set[str] = field(default_factory=set)

    # -- reading ---------------------------------------------------------------------------------

    def reserved(self, scope: str, key: str, period: str) -> int:
        return self.spent.get((scope, key, period), 0)

    def pending(self) -> dict[str, IntentState]:
        return {iid: self.intents[iid] for iid in self.pending_ids}

    def location(self, intent_id: str) -> tuple[int, int] | None:
        """(offset, length) of the intent's latest decision in the log, None for an unknown intent."""
        state = self.intents.get(intent_id)
        if state is not None:
            return state.offset, state.length
        packed = self.archived.get(intent_id)
        return None if packed is None else (packed >> 24, packed & 0xFFFFFF)

    # -- applying decisions ----------------------------------------------------------------------

    def apply_decision(self, record: dict, offset: int, length: int, micro: int | None = None) -> None:
        """One approval-log line (already parsed), at `offset` in the log (`micro`: its cost, if known)."""
        intent_id = record["intent_id"]
        decision = record["decision"]
        state = self.intents.get(intent_id)
        if decision == "pending_review":
            self.pending_ids.add(intent_id)
        else:
            self.pending_ids.discard(intent_id)
        if state is None and decision != "pending_review" and record["ts"][:7] < self.horizon:
            self.archived[intent_id] = (offset << 24) | length
            return
        if state is None:
            state = IntentState(
                decision,
                micro_from_text(record["cost_usd"]) if micro is None else micro,
                _intern(record["agent"]),
                _intern(record["vendor"]),
                _intern(record["business_id"]),
                sys.intern(record["ts"][:10]),
                sys.intern(record["ts"][:7]),
                offset,
                length,
            )
            state.released = self.latest_status.get(intent_id) in RELEASING_STATUSES
            self.intents[intent_id] = state
            if state.reserving:
                self._add(state, state.micro)
        else:
            was = state.reserving
            state.decision = decision
            state.offset, state.length = offset, length
            self._flip(state, was)
        if decision == "pending_review":
            heapq.heappush(self.review_deadlines, (record["ts"], intent_id))

    def add_new_decision(self, intent_id: str, decision: str, micro: int, agent: str, vendor: str, business: str,
                         ts: str, offset: int, length: int, keys: tuple[tuple[str, str, str], ...],
                         reserved: list[int]) -> None:
        """The meta agent's own first decision of an intent it has no decision for (hot path).

        The same effect as `apply_decision` on that line, from values the agent already has:
        `agent`, `vendor` and `business` interned, `keys` the intent's six budget keys (agent,
        vendor, business; day then month) with their day and month strings interned, and
        `reserved` what each held when the rules were checked (under the same lock, so still what
        they hold).
        """
        day, month = keys[0][2], keys[1][2]
        if decision == "pending_review":
            self.pending_ids.add(intent_id)
            heapq.heappush(self.review_deadlines, (ts, intent_id))
        elif month < self.horizon:  # (a first decision was never pending: nothing to discard)
            self.archived[intent_id] = (offset << 24) | length
            return
        state = IntentState(decision, micro, agent, vendor, business, day, month, offset, length)
        self.intents[intent_id] = state
        released = self.latest_status.get(intent_id) in RELEASING_STATUSES
        state.released = released
        if released or decision not in RESERVING or month < self.horizon:
            return
        spent = self.spent
        for key, held in zip(keys, reserved, strict=True):
            spent[key] = held + micro

    def apply_decision_line(self, raw: bytes, offset: int) -> str | None:
        """Parse and apply one line; returns its `hash`, or None for a line that is not a decision."""
        try:
            record = json.loads(raw)
            digest = record["hash"]
            self.apply_decision(record, offset, len(raw) + 1)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad_lines += 1
            return None
        return digest if isinstance(digest, str) else None

    # -- applying payment events -----------------------------------------------------------------

    def apply_event(self, intent_id: str | None, status: str) -> None:
        """A payment event carrying `intent_id`: a cancelled/failed/expired payment gives back its reservation."""
        if not intent_id:
            return
        self.latest_status[intent_id] = status
        state = self.intents.get(intent_id)
        if state is None:
            return
        was = state.reserving
        state.released = status in RELEASING_STATUSES
        self._flip(state, was)

    def reset_events(self, events: Iterable[tuple[str | None, str]]) -> None:
        """The transaction log was replaced or truncated: forget its effects and apply `events` afresh."""
        for intent_id in list(self.latest_status):
            state = self.intents.get(intent_id)
            if state is not None:
                was = state.reserving
                state.released = False
                self._flip(state, was)
        self.latest_status.clear()
        for intent_id, status in events:
            self.apply_event(intent_id, status)

    # -- review timeouts -------------------------------------------------------------------------

    def overdue_reviews(self, now: datetime, timeout_seconds: int) -> list[str]:
        """Intents still `pending_review` whose review window has closed (oldest first)."""
        overdue: list[str] = []
        cutoff = now - timedelta(seconds=timeout_seconds)
        while self.review_deadlines:
            ts, intent_id = self.review_deadlines[0]
            if parse_utc(ts) > cutoff:
                break
            heapq.heappop(self.review_deadlines)
            state = self.intents.get(intent_id)
            if state is not None and state.decision == "pending_review":
                overdue.append(intent_id)
        return overdue

    # -- internals -------------------------------------------------------------------------------

    def _flip(self, state: IntentState, was: bool) -> None:
        now = state.reserving
        if now != was:
            self._add(state, state.micro if now else -state.micro)

    def _add(self, state: IntentState, micro: int) -> None:
        if state.month < self.horizon:
            return
        spent = self.spent
        day, month = state.day, state.month
        for k in (("agent", state.agent, day), ("agent", state.agent, month),
                  ("vendor", state.vendor, day), ("vendor", state.vendor, month),
                  ("business", state.business, day), ("business", state.business, month)):
            spent[k] = spent.get(k, 0) + micro


def _intern(text: str) -> str:
    return sys.intern(text) if isinstance(text, str) else text
