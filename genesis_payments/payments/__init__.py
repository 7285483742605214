"""The agent as an x402 buyer (§9): PaymentManager, the seller's challenge, vendors, wallets."""

from genesis_payments.payments.errors import (
    ChallengeError,
    IdempotencyConflict,
    NoAcceptableOffer,
    NotApproved,
    PaymentNotFound,
    PaymentRefused,
    SettlementFailed,
    SettlementPending,
    VendorNotSupported,
)
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address
from genesis_payments.payments.manager import PaymentManager, Purchase, Quote, StagedPayment

__all__ = [
    "ChallengeError",
    "IdempotencyConflict",
    "NoAcceptableOffer",
    "NotApproved",
    "PaymentManager",
    "PaymentNotFound",
    "PaymentRefused",
    "Purchase",
    "Quote",
    "SettlementFailed",
    "SettlementPending",
    "StagedPayment",
    "VendorNotSupported",
    "fake_account",
    "fake_address",
]
