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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from genesis_payments.core.money import parse_micro
from genesis_payments.core.timestamps import parse_utc
from genesis_payments.ledgers.payment_states import allowed

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
        self.day = day
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
    # intent → payment → the status its allowed transitions reached (ledgers.payment_states).
    payment_statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    review_deadlines: list[tuple[str, str]] = field(default_factory=list)
    bad_lines: int = 0
    # Months before this one ("YYYY-MM") are never asked about again, so their totals are not kept:
    # a restart on a year-long log then only sums what budgets can still see.
    horizon: str = ""
    # Settled intents of those older months: only where their latest decision is (offset << 24 | length).
    archived: dict[str, int] = field(default_factory=dict)
    pending_ids: set[str] = field(default_factory=set)
    # Archived intents loaded from a checkpoint (`spend_checkpoint.ArchivedIndex`), looked up after `archived`.
    archived_index: Any = None

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
        if packed is None:
            return None if self.archived_index is None else self.archived_index.find(intent_id)
        return packed >> 24, packed & 0xFFFFFF

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
                record["agent"],
                record["vendor"],
                record["business_id"],
                record["ts"][:10],
                record["ts"][:7],
                offset,
                length,
            )
            state.released = self.released(intent_id)
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

    # -- applying payment events -----------------------------------------------------------------

    def apply_event(self, intent_id: str | None, status: str, payment_id: str = "") -> None:
        """A payment event carrying `intent_id`. A reservation belongs to its intent's payments and
        is given back only when every one of them ended without moving money (cancelled, failed,
        expired); an event the payment state machine refuses (a `cancelled` after `captured`, say)
        changes nothing, so a second payment's cancel can never release a captured one's budget."""
        if not intent_id:
            return
        payments = self.payment_statuses.setdefault(intent_id, {})
        if not allowed(payments.get(payment_id), status):
            return
        payments[payment_id] = status
        self.latest_status[intent_id] = status
        state = self.intents.get(intent_id)
        if state is None:
            return
        was = state.reserving
        state.released = self.released(intent_id)
        self._flip(state, was)

    def released(self, intent_id: str) -> bool:
        payments = self.payment_statuses.get(intent_id)
        return bool(payments) and all(s in RELEASING_STATUSES for s in payments.values())

    def events_applied(self) -> list[tuple[str, str, str]]:
        """(intent, status, payment) of every payment's current state, to carry into a fresh state."""
        return [(intent, status, payment) for intent, payments in self.payment_statuses.items()
                for payment, status in payments.items()]

    def follow_events(self, events: Iterable[Any], *, reset: bool = False) -> None:
        """Payment events newly read from the transaction log (all of it again when `reset`)."""
        triples = [(event.intent_id, event.status, event.payment_id) for event in events]
        if reset:
            self.reset_events(triples)
        else:
            for intent_id, status, payment_id in triples:
                self.apply_event(intent_id, status, payment_id)

    def reset_events(self, events: Iterable[tuple[str | None, str, str]]) -> None:
        """The transaction log was replaced or truncated: forget its effects and apply `events` afresh."""
        for intent_id in list(self.payment_statuses):
            state = self.intents.get(intent_id)
            if state is not None:
                was = state.reserving
                state.released = False
                self._flip(state, was)
        self.latest_status.clear()
        self.payment_statuses.clear()
        for intent_id, status, payment_id in events:
            self.apply_event(intent_id, status, payment_id)

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

