"""Errors of the payment path; each says which payment or request failed, why, and what to do.

Two families matter to a caller: `PaymentRefused` (nothing moved, nothing to retry as it is) and
`SettlementPending` (a paid request was sent and its outcome is unknown: `capture` again re-sends
the same payload, never a new signature, and the chain settles the question).
"""

from __future__ import annotations

from genesis_payments.core.errors import PaymentRefused, PaymentsError  # PaymentRefused: one class, in core.errors


class NotApproved(PaymentRefused):
    """No approved decision covers this payment (intent, agent, vendor, business or amount)."""


class VendorNotSupported(PaymentRefused):
    """The vendor, its origin or its payTo is not one this buyer may pay."""


class IdempotencyConflict(PaymentRefused):
    """An idempotency key reused for a different intent."""


def approval_already_paid(intent_id: str, payment_id: str, status: str) -> PaymentRefused:
    """One approval, one payment: the refusal of a second live or captured payment of an intent
    (the files store checks it under the intent's lock; PostgreSQL's unique index proves it)."""
    return PaymentRefused(
        f"intent {intent_id!r} already has payment {payment_id} ({status}); one approval pays once — a new "
        "authorization needs the old one cancelled, expired or failed")


def key_in_use(idempotency_key: str, payment_id: str, owner_intent: str, intent_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {idempotency_key!r} belongs to payment {payment_id} of intent {owner_intent!r}, not "
        f"{intent_id!r}; use a new key")


class PaymentNotFound(PaymentsError):
    """No payment with that id."""


class ChallengeError(PaymentsError):
    """A seller's answer is not a usable x402 challenge (missing, malformed, oversized, redirected)."""


class NoAcceptableOffer(PaymentRefused):
    """The seller's 402 lists no offer this buyer may pay (scheme, network, asset)."""


class SettlementFailed(PaymentsError):
    """The seller refused or failed the payment and no money moved; recorded `failed` (`reason`: x402 code)."""

    def __init__(self, message: str, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


class SettlementPending(PaymentsError):
    """A paid request was sent and its outcome is unknown; recorded `settlement_pending`."""

    def __init__(self, message: str, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


class FacilitatorError(PaymentsError):
    """A facilitator call failed (HTTP status, bad body); `call` is `supported`, `verify` or `settle`."""

    def __init__(self, call: str, message: str) -> None:
        super().__init__(f"facilitator {call} failed: {message}")
        self.call = call


class FacilitatorUnavailable(FacilitatorError):
    """Timeout, connection error or 5xx: the outcome is unknown and the same call may be retried."""
