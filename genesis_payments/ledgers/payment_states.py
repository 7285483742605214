"""The payment state machine of §4: the one place that says what state a payment is in.

A payment's state is the state its allowed transitions reach, in file order. An event that is not
an allowed transition from the current state (a second `authorized`, anything after a terminal
state) changes nothing and is an `invalid_transition` finding. The age of an authorization counts
from the first `authorized` event. Every job, the exporter and the buyer fold events through
`PaymentStates`, so they cannot disagree about a payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genesis_payments.core.records import ALLOWED_TRANSITIONS, PaymentEvent

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
