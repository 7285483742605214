"""`genesis-payments demo`: weeks of realistic fake activity, through the real code paths.

Intents are decided by `GenesisMetaAgent`; approved ones are bought by `PaymentManager` from fake
mode's sellers — real x402 servers on loopback (`payments.fakes.local_world`), whose facilitator
settles on the fake chain — or authorized and cancelled; the ledgers are written by
`BusinessMonitor` and `FinanceLedger` as in production. Both are given a replay clock so the
activity spreads over past days; signatures stay on real time.

The businesses are generated one after another, as the Genesis generator builds them: each gets a
stretch of the days, and when one is finished `on_business_generated(business_id)` is called. The
command line and `serve` pass the Prefect event emitter there (the `business-summary` deployment
reacts); without one the demo writes each business's spend summary itself, through the same
library code the flow uses.

A few problems are planted for every job to find, and listed in the returned `DemoResult`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.errors import PaymentsError
from genesis_payments.core.money import format_usd, parse_usd
from genesis_payments.core.records import FinanceEntry, PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.core.wording import counted
from genesis_payments.jobs.spend_summary import build_spend_summary
from genesis_payments.ledgers.approval_log import open_approval_log
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.ledgers.sources import spend_summaries
from genesis_payments.notify.discord import GenesisDiscord
from genesis_payments.payments.fakes.local_world import LocalWorld, local_world
from genesis_payments.payments.manager import PaymentManager
from genesis_payments.payments.vendor_cache import FAKE_CATALOGUE

# What each agent buys: vendor, SKU, component, and how many units an intent takes.
AGENT_SHOPPING: dict[str, list[tuple[str, str, str, tuple[int, int]]]] = {
    "research-agent": [
        ("search:serpapi", "search", "market-research", (20, 200)),
        ("llm:openai", "gpt-4o-1k-tokens", "analysis", (100, 900)),
    ],
    "media-agent": [
        ("media:images:replicate", "sdxl-image", "hero-images", (50, 600)),
        ("voice:elevenlabs", "tts-1k-chars", "voiceover", (2, 20)),
    ],
    "deploy-agent": [
        ("payments:deploy:vercel", "deploy", "deployment", (1, 3)),
        ("payments:deploy:vercel", "preview", "preview", (1, 6)),
    ],
    "support-agent": [
        ("llm:openai", "gpt-4o-mini-1k-tokens", "support-replies", (200, 2000)),
    ],
}
BUSINESSES = ("biz-aurora", "biz-nimbus", "biz-terra")
# The planted problems happen in the last hours, while the last business is being generated.
PLANTED_BUSINESS = BUSINESSES[-1]
STARTING_BALANCE = Decimal("2500")
LOW_WALLET_AGENT = "support-agent"
LOW_WALLET_BALANCE = Decimal("42")
STREAK_VENDOR = "search:serpapi"
# Sometimes an agent reaches for a vendor the policy does not allow: realistic denials.
OFF_POLICY = ("llm:anthropic", "claude-sonnet-1k-tokens", "analysis", (100, 900))


@dataclass
class DemoResult:
    days: int
    payments: int = 0
    captured: int = 0
    cancelled: int = 0
    denied: int = 0
    planted: list[str] = field(default_factory=list)
    businesses: list[str] = field(default_factory=list)
    # The intent left waiting for a person; `serve` opens a paused approve-intent run for it.
    review_intent: PaymentIntent | None = None

    def describe(self) -> str:
        lines = [
            f"demo: {counted(self.days, 'day')}, {counted(self.payments, 'payment')} ({self.captured} captured, "
            f"{self.cancelled} cancelled), {counted(self.denied, 'intent')} denied",
            f"businesses generated: {', '.join(self.businesses)}",
            "planted for the jobs to find:",
        ]
        lines += [f"  - {item}" for item in self.planted]
        return "\n".join(lines)


class ReplayClock:
    """A clock the demo moves forward through past days; never goes backwards."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now + timedelta(microseconds=1), moment)


class _DroppedLedger:
    """Plants `missing_in_ledger`: a debit write that was lost."""

    def record(self, entry: Any) -> None:
        return None


class _SkewedLedger:
    """Plants `amount_mismatch`: a debit booked with the wrong amount."""

    def __init__(self, ledger: FinanceLedger, delta: Decimal) -> None:
        self._ledger = ledger
        self._delta = delta

    def record(self, entry: dict[str, Any]) -> FinanceEntry:
        amount = parse_usd(entry["amount_usd"]) + self._delta
        return self._ledger.record({**entry, "amount_usd": format_usd(amount)})


def run_demo(
    settings: Settings,
    *,
    days: int = 21,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    world: LocalWorld | None = None,
    on_business_generated: Callable[[str], None] | None = None,
) -> DemoResult:
    """Fill `settings.root` with `days` days of activity ending now; returns what was planted.

    Purchases go to `world`'s sellers: the running fake world, or one started for the demo.
    `on_business_generated(business_id)` is called as each business is finished; by default the
    business's spend summary is written at once (spend_summaries.jsonl and the dashboard channel).
    """
    if days < 2:
        raise PaymentsError("the demo needs at least 2 days (its planted problems span more than one)")
    # Bulk demo data is the one place durability may be relaxed (contract §2 allows it only here).
    settings = settings.model_copy(update={"fsync": False})
    if world is None:
        with local_world(settings) as started:
            return _replay(settings, started, days, seed, progress, on_business_generated)
    return _replay(settings, world, days, seed, progress, on_business_generated)


def _replay(settings: Settings, world: LocalWorld, days: int, seed: int,
            progress: Callable[[int, int], None] | None,
            on_business_generated: Callable[[str], None] | None) -> DemoResult:
    rng = random.Random(seed)
    end = utc_now()
    clock = ReplayClock(end - timedelta(days=days))
    agent = GenesisMetaAgent(settings, clock=clock)
    manager = PaymentManager(settings, approvals=open_approval_log(settings), clock=clock)
    for name in AGENT_SHOPPING:
        world.fund(name, LOW_WALLET_BALANCE if name == LOW_WALLET_AGENT else STARTING_BALANCE)
    result = DemoResult(days=days)
    shop = Shop(rng, world)
    if on_business_generated is None:
        def on_business_generated(business_id: str) -> None:
            write_spend_summary(settings, business_id, now=clock())

    for day in range(days):
        shop.business = _business_of_day(day, days)
        day_start = end - timedelta(days=days - day)
        for moment in sorted(day_start + timedelta(seconds=rng.randrange(6 * 3600, 22 * 3600)) for _ in range(8)):
            clock.advance_to(moment)
            _one_purchase(shop, agent, manager, result, cancel=rng.random() < 0.06)
        if progress:
            progress(day + 1, days)
        if shop.business != PLANTED_BUSINESS and shop.business != _business_of_day(day + 1, days):
            _business_finished(shop.business, result, on_business_generated)

    shop.business = PLANTED_BUSINESS
    _plant_problems(shop, end, clock, agent, manager, result)
    _business_finished(PLANTED_BUSINESS, result, on_business_generated)
    return result


def _business_of_day(day: int, days: int) -> str:
    """Each business gets an equal stretch of consecutive days, in order."""
    return BUSINESSES[min(day * len(BUSINESSES) // days, len(BUSINESSES) - 1)]


def write_spend_summary(settings: Settings, business_id: str, *, now: datetime | None = None) -> None:
    """What the business-summary flow does, without Prefect: build, keep and post one summary."""
    events = BusinessMonitor(settings).read_events().records
    decisions = open_approval_log(settings).read().records
    summary = build_spend_summary(business_id, events, decisions, now=now)
    spend_summaries(settings).append(summary)
    GenesisDiscord(settings).payment_business_summary(summary)


def _business_finished(business_id: str, result: DemoResult, on_business_generated: Callable[[str], None]) -> None:
    result.businesses.append(business_id)
    on_business_generated(business_id)


@dataclass
class Shop:
    """What the demo's agents want, and where each thing is sold; orders are for `business`."""

    rng: random.Random
    world: LocalWorld
    business: str = BUSINESSES[0]  # the business being generated

    def order(self, agent_name: str, choice: tuple[str, str, str, tuple[int, int]],
              units: int | None = None) -> tuple[PaymentIntent, str]:
        intent, count = _intent(self.rng, agent_name, choice, units, business=self.business)
        vendor, sku = choice[0], choice[1]
        return intent, self.world.url(vendor, f"/{sku}?units={count}")

    def any_order(self) -> tuple[PaymentIntent, str]:
        name = self.rng.choice([a for a in AGENT_SHOPPING if a != LOW_WALLET_AGENT] * 3 + [LOW_WALLET_AGENT])
        choice = OFF_POLICY if self.rng.random() < 0.04 else self.rng.choice(AGENT_SHOPPING[name])
        return self.order(name, choice)


def _intent(rng: random.Random, agent_name: str, choice: tuple[str, str, str, tuple[int, int]],
            units: int | None = None, *, business: str) -> tuple[PaymentIntent, int]:
    """An intent to buy `units` (or a random count) of a SKU, priced as its seller prices it."""
    vendor, sku, component, (low, high) = choice
    price = parse_usd(FAKE_CATALOGUE[vendor]["pricing"][sku])
    count = units if units is not None else rng.randint(low, high)
    intent = PaymentIntent(
        intent_id=f"intent-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
        agent=agent_name,
        vendor=vendor,
        component=component,
        strategy=rng.choice(["launch", "growth", "maintenance"]),
        cost_usd=(price * count).quantize(Decimal("0.000001")),
        business_id=business,
        reason=f"{count} × {sku}",
    )
    return intent, count


def _one_purchase(shop: Shop, agent: GenesisMetaAgent, manager: PaymentManager, result: DemoResult,
                  *, cancel: bool = False, order: tuple[PaymentIntent, str] | None = None) -> str | None:
    intent, url = order if order is not None else shop.any_order()
    decision = agent.approve_payment_intent(intent)
    if decision.decision != "approved":
        result.denied += decision.decision == "denied"
        return None
    try:
        payment = manager.authorize(intent, f"demo-{intent.intent_id}", url=url)
        result.payments += 1
        if cancel:
            manager.cancel(payment.payment_id)
            result.cancelled += 1
        else:
            manager.capture(payment.payment_id)
            result.captured += 1
        return payment.payment_id
    except PaymentsError:
        return None  # a refused or failed payment is part of realistic activity; it is on the ledger


def _plant_problems(shop: Shop, end: datetime, clock: ReplayClock, agent: GenesisMetaAgent,
                    manager: PaymentManager, result: DemoResult) -> None:
    research = AGENT_SHOPPING["research-agent"]
    real_ledger = manager.ledger

    clock.advance_to(end - timedelta(hours=6))
    manager.ledger = _DroppedLedger()
    paid = _one_purchase(shop, agent, manager, result, order=shop.order("research-agent", research[1], 300))
    result.planted.append(f"ledger-sync missing_in_ledger: payment {paid} captured, its debit lost")

    clock.advance_to(end - timedelta(hours=5))
    manager.ledger = _SkewedLedger(real_ledger, Decimal("0.25"))
    paid = _one_purchase(shop, agent, manager, result, order=shop.order("media-agent", AGENT_SHOPPING["media-agent"][0],
                                                                       200))
    result.planted.append(f"ledger-sync amount_mismatch: payment {paid} debited 0.25 USDC too much")
    manager.ledger = real_ledger

    clock.advance_to(end - timedelta(hours=2))
    intent, url = shop.order("deploy-agent", AGENT_SHOPPING["deploy-agent"][0], 2)
    if agent.approve_payment_intent(intent).decision == "approved":
        stale = manager.authorize(intent, f"demo-{intent.intent_id}", url=url)
        result.payments += 1
        result.planted.append(f"stale-payments stale_authorization: payment {stale.payment_id} authorized 2 h ago")

    clock.advance_to(end - timedelta(minutes=90))
    shop.world.facilitator_fault("settle", "insufficient_funds", times=5)
    for _ in range(5):
        clock.advance_to(clock() + timedelta(minutes=7))
        _one_purchase(shop, agent, manager, result, order=shop.order("research-agent", research[0], 100))
    result.planted.append(f"monitor-alerts failure_streak: vendor {STREAK_VENDOR} failed 5 times in a row")
    result.planted.append(
        f"monitor-alerts low_balance: wallet of {LOW_WALLET_AGENT} holds under 50 USDC "
        f"(funded with {format_usd(LOW_WALLET_BALANCE)})"
    )

    clock.advance_to(end - timedelta(minutes=5))
    big, _url = shop.order("deploy-agent", AGENT_SHOPPING["deploy-agent"][0], 20)
    decision = agent.approve_payment_intent(big)
    if decision.decision == "pending_review":
        result.review_intent = big
        result.planted.append(
            f"review: intent {big.intent_id} ({format_usd(big.cost_usd)} USDC) waits for a person "
            "(`genesis-payments review list`)"
        )
