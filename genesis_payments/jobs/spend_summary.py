"""Spend summary of one business (§4): captured money only, broken down by vendor, agent and component.

A payment counts once, with the amount of its `captured` event: the state machine's
(`ledgers.payment_states`), so a repeated capture, or one after a terminal state, is not money
spent. Its component comes from the approval decision of the payment's
`intent_id`; a captured payment with no decision on record is listed under component "unknown" so
the breakdowns still sum exactly to the total. Intent counts use each intent's latest decision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from genesis_payments.core.money import from_micro, to_micro
from genesis_payments.core.records import ApprovalDecision, PaymentEvent, SpendSummary
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.payment_states import PaymentStates, fold_events

UNKNOWN_COMPONENT = "unknown"


def build_spend_summary(
    business_id: str,
    events: Iterable[PaymentEvent] | PaymentStates,
    decisions: Iterable[ApprovalDecision],
    *,
    now: datetime | None = None,
) -> SpendSummary:
    """The summary of `business_id` from the payment events (or their folded `PaymentStates`)."""
    states = events if isinstance(events, PaymentStates) else fold_events(events)
    latest: dict[str, ApprovalDecision] = {}
    component_of: dict[str, str] = {}
    for decision in decisions:
        component_of.setdefault(decision.intent_id, decision.component)
        if decision.business_id == business_id:
            latest[decision.intent_id] = decision
    captured = {pid: state.last_event for pid, state in states.payments.items()
                if state.status == "captured" and state.last_event.business_id == business_id}
    by_vendor: dict[str, int] = defaultdict(int)
    by_agent: dict[str, int] = defaultdict(int)
    by_component: dict[str, int] = defaultdict(int)
    total = 0
    for event in captured.values():
        micro = to_micro(event.amount_usd)
        total += micro
        by_vendor[event.vendor] += micro
        by_agent[event.agent] += micro
        component = component_of.get(event.intent_id or "", UNKNOWN_COMPONENT)
        by_component[component] += micro
    counts = defaultdict(int)
    for decision in latest.values():
        counts[decision.decision] += 1
    return SpendSummary(
        business_id=business_id,
        ts=now or utc_now(),
        total_spent_usd=from_micro(total),
        approved_intents=counts["approved"],
        denied_intents=counts["denied"],
        pending_review=counts["pending_review"],
        by_vendor=_money(by_vendor),
        by_agent=_money(by_agent),
        by_component=_money(by_component),
    )


def _money(breakdown: dict[str, int]) -> dict:
    return {key: from_micro(micro) for key, micro in sorted(breakdown.items())}


def spend_summary_table(summary: SpendSummary) -> list[dict[str, str]]:
    """Rows (breakdown, name, amount) for a Prefect table artifact."""
    data = summary.to_json_dict()
    rows = [{"breakdown": "total", "name": summary.business_id, "amount_usd": data["total_spent_usd"]}]
    for breakdown in ("by_vendor", "by_agent", "by_component"):
        for name, amount in data[breakdown].items():
            rows.append({"breakdown": breakdown.removeprefix("by_"), "name": name, "amount_usd": amount})
    return rows


def spend_summary_markdown(summary: SpendSummary) -> str:
    data = summary.to_json_dict()
    lines = [
        f"# Spend summary — {summary.business_id}",
        "",
        f"Total captured: **{data['total_spent_usd']} USDC**; intents approved {summary.approved_intents}, "
        f"denied {summary.denied_intents}, pending review {summary.pending_review}.",
        "",
        "| breakdown | name | USDC |",
        "|---|---|---|",
    ]
    for row in spend_summary_table(summary)[1:]:
        name = row["name"].replace("|", "\\|")
        lines.append(f"| {row['breakdown']} | {name} | {row['amount_usd']} |")
    return "\n".join(lines) + "\n"
