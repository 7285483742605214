"""Helpers for staged-payment tests: approved intents, funded fake wallets, an in-process fake."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.payments import FacilitatorClient, PaymentManager, fund_fake_wallets
from genesis_payments.payments.fakes.facilitator import LocalFacilitator, facilitator_transport, local_facilitator

AGENT = "deploy-agent"
VENDOR = "payments:deploy:vercel"


def make_intent(**overrides: Any) -> PaymentIntent:
    fields: dict[str, Any] = {
        "intent_id": "intent-" + uuid.uuid4().hex[:12],
        "agent": AGENT,
        "vendor": VENDOR,
        "component": "deploy",
        "strategy": "staged",
        "cost_usd": "2.50",
        "business_id": "biz-1",
        "chain": "eip155:84532",
        "token": "USDC",
    }
    fields.update(overrides)
    return PaymentIntent.model_validate(fields)


def approve(settings: Settings, intent: PaymentIntent, decision: str = "approved", cost: str | None = None) -> None:
    ApprovalLog(settings).append(
        {
            "intent_id": intent.intent_id,
            "agent": intent.agent,
            "vendor": intent.vendor,
            "component": intent.component,
            "strategy": intent.strategy,
            "cost_usd": cost or str(intent.cost_usd),
            "business_id": intent.business_id,
            "decision": decision,
            "reasons": ["test"],
            "policy": "test-policy",
        }
    )


def approved_intent(settings: Settings, **overrides: Any) -> PaymentIntent:
    intent = make_intent(**overrides)
    approve(settings, intent)
    return intent


def in_process(settings: Settings, *, fund: Decimal | str = "100") -> tuple[PaymentManager, LocalFacilitator]:
    """A PaymentManager wired to an in-process facilitator (on the local chain) whose failures the test controls."""
    fund_fake_wallets(settings, {AGENT: Decimal(str(fund))})
    fake = local_facilitator(settings)
    client = FacilitatorClient("http://fake.invalid", timeout_seconds=5, transport=facilitator_transport(fake))
    return PaymentManager(settings, facilitator=client), fake
