"""Payment requirements from the vendor cache, and signed EIP-3009 payloads from the x402 SDK.

The SDK does the EIP-712 work: `x402ClientSync` with the exact-EVM client scheme over
`EthAccountSigner` picks the requirement, enforces a spend cap (the approved amount, in atomic
units) and signs `TransferWithAuthorization`. The x402 `payment-identifier` extension carries the
idempotency key, so a facilitator can deduplicate retries.
"""

from __future__ import annotations

import hashlib
import re

from eth_account import Account
from eth_account.signers.local import LocalAccount
from x402 import x402ClientSync
from x402.extensions.payment_identifier import (
    PAYMENT_IDENTIFIER,
    append_payment_identifier_to_extensions,
    declare_payment_identifier_extension,
)
from x402.mechanisms.evm.exact import ExactEvmClientScheme
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.records import VendorCapabilities
from genesis_payments.core.settings import Settings
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


def build_requirements(
    caps: VendorCapabilities, chain: str, asset_terms: dict[str, str], amount_micro: int, max_timeout_seconds: int
) -> PaymentRequirements:
    """x402 v2 exact-scheme requirements for paying `amount_micro` USDC units to the vendor."""
    return PaymentRequirements(
        scheme="exact",
        network=chain,
        asset=asset_terms["asset"],
        amount=str(amount_micro),
        pay_to=caps.pay_to,
        max_timeout_seconds=max_timeout_seconds,
        extra={"name": asset_terms["name"], "version": asset_terms["version"]},
    )


def sign_payment(
    account: LocalAccount, requirements: PaymentRequirements, payment_identifier: str, resource_url: str
) -> PaymentPayload:
    """A signed v2 PaymentPayload for exactly these requirements, carrying the payment identifier."""
    client = x402ClientSync()
    client.register("eip155:*", ExactEvmClientScheme(EthAccountSigner(account)))
    client.set_spend_controls(
        {
            "max_amount_per_payment": False,
            "allowed_assets": [
                {"network": requirements.network, "asset": requirements.asset,
                 "max_amount_per_payment": requirements.amount},
            ],
        }
    )
    declared = {PAYMENT_IDENTIFIER: declare_payment_identifier_extension(required=True)}
    payment_required = PaymentRequired(
        x402_version=2, resource=ResourceInfo(url=resource_url), accepts=[requirements], extensions=declared
    )
    extensions = append_payment_identifier_to_extensions(dict(declared), payment_identifier)
    payload = client.create_payment_payload(payment_required, extensions=extensions)
    assert isinstance(payload, PaymentPayload)
    return payload
