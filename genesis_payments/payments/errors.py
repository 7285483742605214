"""Errors of staged payments; each says which payment or call failed, why, and what to do."""

from __future__ import annotations

from genesis_payments.core.errors import PaymentsError


class PaymentRefused(PaymentsError):
    """An operation the lifecycle does not allow; nothing was written."""


class NotApproved(PaymentRefused):
    """`authorize` without an approved decision covering the intent's cost."""


class VendorNotSupported(PaymentRefused):
    """The vendor cache does not know the vendor, or not for the chain, token, SKU or price asked."""


class IdempotencyConflict(PaymentRefused):
    """An idempotency key reused for a different intent."""


class PaymentNotFound(PaymentsError):
    """No stored payment with that id."""


class AuthorizationRejected(PaymentsError):
    """The facilitator's `/verify` said the signed authorization is invalid (`reason` is the x402 code)."""

    def __init__(self, message: str, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


class SettlementFailed(PaymentsError):
    """`/settle` failed terminally; the payment was recorded `failed` (`reason` is the x402 code)."""

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
