"""Helpers for payment tests: intents, and their approval decisions in the log."""

from __future__ import annotations

import uuid
from typing import Any

from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import open_approval_log

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
    open_approval_log(settings).append(
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
