"""One purchase from end to end (§9, §10 `buy`): quote → approval (§8) → authorize → capture.

The approval is asked for the live price, so the decision, the signed amount and the debit are the
same money; a price above `max_usd` is refused before anything is asked or signed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.money import format_usd
from genesis_payments.core.records import ApprovalDecision, PaymentIntent
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.payments.errors import NotApproved, PaymentRefused
from genesis_payments.payments.manager import PaymentManager, Purchase


@dataclass(frozen=True)
class Order:
    """What the caller wants bought, and on whose behalf."""

    url: str
    agent: str
    business_id: str = "manual"
    component: str = "purchase"
    strategy: str = "buy"
    method: str = "GET"
    max_usd: Decimal | None = None
    intent_id: str | None = None


@dataclass(frozen=True)
class BuyResult:
    decision: ApprovalDecision | None
    purchase: Purchase | None
    free_body: bytes | None = None


def buy(settings: Settings, order: Order, *, manager: PaymentManager | None = None,
        agent: GenesisMetaAgent | None = None) -> BuyResult:
    """Buy one resource; a free one is fetched as it is. Raises NotApproved when not approved."""
    manager = manager or PaymentManager(settings)
    quote = manager.quote(order.url, order.method)
    if quote.offer is None:
        response = manager.http.request(order.method, order.url)
        return BuyResult(None, None, response.content)
    if order.max_usd is not None and quote.offer.amount_usd > order.max_usd:
        raise PaymentRefused(f"{redact(order.url)} asks {format_usd(quote.offer.amount_usd)} USDC, over the "
                             f"--max-usd of {format_usd(order.max_usd)}; nothing was signed")
    intent = PaymentIntent(
        intent_id=order.intent_id or f"buy-{uuid.uuid4().hex[:16]}",
        agent=order.agent, vendor=quote.vendor, component=order.component, strategy=order.strategy,
        cost_usd=quote.offer.amount_usd, business_id=order.business_id, chain=quote.offer.network,
        token=quote.offer.asset.symbol, reason=f"buy {redact(order.url)}",
    )
    decision = (agent or GenesisMetaAgent(settings)).approve_payment_intent(intent)
    if decision.decision != "approved":
        hint = " (resolve it with `genesis-payments review`)" if decision.decision == "pending_review" else ""
        raise NotApproved(f"intent {intent.intent_id} is {decision.decision}: "
                          f"{'; '.join(decision.reasons) or 'no reason recorded'}{hint}")
    purchase = manager.pay(intent, f"buy-{intent.intent_id}", quote)
    return BuyResult(decision, purchase)
