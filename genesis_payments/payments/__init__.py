"""Staged payments over x402 (§9): PaymentManager, the facilitator client, fake-mode wallets."""

from genesis_payments.payments.errors import (
    AuthorizationRejected,
    FacilitatorError,
    FacilitatorUnavailable,
    IdempotencyConflict,
    NotApproved,
    PaymentNotFound,
    PaymentRefused,
    SettlementFailed,
    VendorNotSupported,
)
from genesis_payments.payments.facilitator_client import FacilitatorClient
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address, fund_fake_wallets
from genesis_payments.payments.manager import PaymentManager, StagedPayment, default_facilitator

__all__ = [
    "AuthorizationRejected",
    "FacilitatorClient",
    "FacilitatorError",
    "FacilitatorUnavailable",
    "IdempotencyConflict",
    "NotApproved",
    "PaymentManager",
    "PaymentNotFound",
    "PaymentRefused",
    "SettlementFailed",
    "StagedPayment",
    "VendorNotSupported",
    "default_facilitator",
    "fake_account",
    "fake_address",
    "fund_fake_wallets",
]
