"""Signed x402 payloads from the SDK's own client scheme, and who signs them.

The SDK does the EIP-712 work: `x402ClientSync` with the exact-EVM client schemes (v2 and v1)
over `EthAccountSigner` signs `TransferWithAuthorization` for the one offer the buyer chose. The
x402 `payment-identifier` extension carries the idempotency key, so a seller can answer a retry
with the answer it already gave.
"""

from __future__ import annotations

import hashlib
import re

from eth_account import Account
from eth_account.signers.local import LocalAccount
from x402 import x402ClientSync
from x402.extensions.payment_identifier import append_payment_identifier_to_extensions
from x402.mechanisms.evm.exact.register import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentPayload
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequiredV1

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings
from genesis_payments.payments.challenge import Challenge, Offer
from genesis_payments.payments.fakes.fake_keys import fake_account

_PAYMENT_ID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def payment_identifier_for(idempotency_key: str) -> str:
    """The x402 `payment-identifier` (16–128 of `[A-Za-z0-9_-]`) for an idempotency key.

    A key that already fits is used as it is; any other key maps to `idem_` + its SHA-256 prefix.
    """
    if _PAYMENT_ID.fullmatch(idempotency_key):
        return idempotency_key
    return "idem_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]


def payer_account(settings: Settings, agent: str) -> LocalAccount:
    """Fake mode: the agent's deterministic fake key. Live mode: the configured wallet key."""
    if settings.use_fake:
        return fake_account(agent)
    if settings.wallet_private_key is None or not settings.wallet_private_key.get_secret_value().strip():
        raise ConfigError("live mode needs GENESIS_WALLET_PRIVATE_KEY to sign payments")
    try:
        return Account.from_key(settings.wallet_private_key.get_secret_value().strip())
    except Exception:
        raise ConfigError("GENESIS_WALLET_PRIVATE_KEY is not a valid private key") from None


def sign_offer(account: LocalAccount, challenge: Challenge, offer: Offer, payment_identifier: str,
               cap_atomic: int) -> PaymentPayload | PaymentPayloadV1:
    """The SDK's client scheme signs exactly this offer (EIP-3009), echoing the seller's extensions.

    Only the chosen requirement is handed to the SDK, and its spend controls cap the payment at
    `cap_atomic` (the approved amount in the asset's units): nothing else can be signed.
    """
    client = x402ClientSync()
    register_exact_evm_client(client, EthAccountSigner(account), networks=[offer.network])
    client.set_spend_controls({
        "max_amount_per_payment": False,
        "allowed_assets": [{"network": str(offer.requirement.network), "asset": offer.asset.address,
                            "max_amount_per_payment": str(cap_atomic)}],
    })
    required = challenge.payment_required
    if isinstance(required, PaymentRequiredV1):
        only = required.model_copy(update={"accepts": [offer.requirement]})
        return client.create_payment_payload(only)
    only = required.model_copy(update={"accepts": [offer.requirement]})
    extensions = append_payment_identifier_to_extensions(dict(required.extensions or {}), payment_identifier)
    return client.create_payment_payload(only, extensions=extensions)
