"""Spend summaries: captured money only, breakdowns that sum exactly to the total, intent counts."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from genesis_payments.core.money import from_micro, sum_usd
from genesis_payments.core.records import ApprovalDecision, PaymentEvent
from genesis_payments.jobs.spend_summary import UNKNOWN_COMPONENT, build_spend_summary
from genesis_payments.ledgers.approval_log import open_approval_log
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.ledgers.sources import spend_summaries
from tests.support.approval_stores import both_stores

TS = "2026-11-26T03:00:00.000000+00:00"


def _event(payment_id: str, status: str, micro: int, *, vendor="llm:openai", agent="a", business="b",
           intent_id=None) -> PaymentEvent:
    return PaymentEvent(event_id=f"e-{payment_id}-{status}", ts=TS, payment_id=payment_id, status=status,
                        agent=agent, vendor=vendor, chain="eip155:8453", token="USDC",
                        amount_usd=from_micro(micro), business_id=business, intent_id=intent_id)


def _decision(intent_id: str, decision: str, component: str, business="b") -> ApprovalDecision:
    return ApprovalDecision(decision_id=f"d-{intent_id}-{decision}", ts=TS, intent_id=intent_id, agent="a",
                            vendor="llm:openai", component=component, strategy="s", cost_usd="1",
                            business_id=business, decision=decision, reasons=[], policy="p",
                            prev_hash="0" * 64, hash="0" * 64)


payments = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**12),  # micro-USDC, up to 1,000,000 USDC
        st.sampled_from(["llm:openai", "voice:elevenlabs", "search:serpapi"]),
        st.sampled_from(["agent-1", "agent-2", "agent-3"]),
        st.sampled_from(["copy", "logo", "site", None]),
        st.sampled_from(["captured", "authorized", "cancelled", "failed"]),
        st.sampled_from(["b", "other"]),
    ),
    max_size=40,
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payments)
def test_breakdowns_sum_exactly_to_captured_total(rows) -> None:
    events, decisions, expected = [], [], 0
    for n, (micro, vendor, agent, component, status, business) in enumerate(rows):
        intent_id = f"i{n}" if component else None
        if component:
            decisions.append(_decision(intent_id, "approved", component, business))
        events.append(_event(f"p{n}", "authorized", micro, vendor=vendor, agent=agent, business=business,
                             intent_id=intent_id))
        if status != "authorized":
            events.append(_event(f"p{n}", status, micro, vendor=vendor, agent=agent, business=business,
                                 intent_id=intent_id))
        if status == "captured" and business == "b":
            expected += micro
    summary = build_spend_summary("b", events, decisions)
    assert summary.total_spent_usd == from_micro(expected)
    for breakdown in (summary.by_vendor, summary.by_agent, summary.by_component):
        assert sum_usd(breakdown.values()) == summary.total_spent_usd
    if any(r[3] is None and r[4] == "captured" and r[5] == "b" for r in rows):
        assert UNKNOWN_COMPONENT in summary.by_component


def test_counts_use_latest_decision_and_a_repeated_capture_counts_once() -> None:
    decisions = [
        _decision("i1", "pending_review", "logo"), _decision("i1", "approved", "logo"),
        _decision("i2", "denied", "copy"), _decision("i3", "pending_review", "site"),
        _decision("i4", "approved", "copy", business="other"),
    ]
    events = [_event("p1", status, 2_500_000, intent_id="i1") for status in ("authorized", "captured", "captured")]
    summary = build_spend_summary("b", events, decisions)
    assert (summary.approved_intents, summary.denied_intents, summary.pending_review) == (1, 1, 1)
    assert summary.total_spent_usd == Decimal("2.5")
    assert summary.by_component == {"logo": Decimal("2.5")}


@both_stores
def test_business_summary_flow_appends_posts_and_reports(store, flow_env, settings) -> None:
    from flows.business_summary import business_summary

    log = open_approval_log(settings)
    log.append({k: v for k, v in _decision("i1", "approved", "logo").to_json_dict().items()
                if k not in ("decision_id", "ts", "prev_hash", "hash")})
    monitor = BusinessMonitor(settings)
    monitor.log_payment(_event("p1", "authorized", 1_250_000, intent_id="i1"))
    monitor.log_payment(_event("p1", "captured", 1_250_000, intent_id="i1"))
    monitor.log_payment(_event("p2", "captured", 999, business="other"))

    report = business_summary("b")

    assert report["summary"]["total_spent_usd"] == "1.250000"
    assert report["summary"]["by_component"] == {"logo": "1.250000"}
    kept = spend_summaries(settings).read_records()  # the file, or the table on PostgreSQL
    assert [summary.business_id for summary in kept.records] == ["b"] and kept.bad_lines == []
    outbox = [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]
    assert outbox[-1]["channel"] == "dashboard"
    reports = list((settings.reports_dir / "business-summary").glob("*.json"))
    assert len(reports) == 1
    assert json.loads(reports[0].read_text())["summary"]["approved_intents"] == 1
