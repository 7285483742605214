"""The demo generates its businesses one after another, as the Genesis generator would."""

from __future__ import annotations

import json

from genesis_payments.core.records import SpendSummary
from genesis_payments.demo import BUSINESSES, run_demo
from genesis_payments.jobs.spend_summary import build_spend_summary
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.ledgers.ledgers import BusinessMonitor


def test_each_finished_business_is_handed_to_the_callback_in_order_and_nothing_is_summarised(settings) -> None:
    finished: list[str] = []
    result = run_demo(settings, days=3, on_business_generated=finished.append)
    assert finished == list(BUSINESSES) == result.businesses
    assert not settings.spend_summaries_path.exists()
    assert result.review_intent is not None and result.review_intent.business_id == BUSINESSES[-1]


def test_without_a_callback_the_demo_writes_one_exact_summary_per_business_and_posts_it(settings) -> None:
    run_demo(settings, days=3)
    lines = [json.loads(line) for line in settings.spend_summaries_path.read_text().splitlines()]
    assert [line["business_id"] for line in lines] == list(BUSINESSES)
    events = BusinessMonitor(settings).read_events().records
    decisions = ApprovalLog(settings).read().records
    for line in lines:
        kept = SpendSummary.model_validate(line)
        expected = build_spend_summary(kept.business_id, events, decisions)
        assert (kept.total_spent_usd, kept.by_vendor, kept.by_agent, kept.by_component) == (
            expected.total_spent_usd, expected.by_vendor, expected.by_agent, expected.by_component)
    outbox = [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]
    assert [m["payload"]["embeds"][0]["title"] for m in outbox] == [f"Spend summary — {b}" for b in BUSINESSES]


def test_every_intent_of_a_business_falls_in_its_own_stretch_of_days(settings) -> None:
    run_demo(settings, days=6)
    first_seen: dict[str, str] = {}
    last_seen: dict[str, str] = {}
    for decision in ApprovalLog(settings).read().records:
        ts = decision.to_json_dict()["ts"]
        first_seen.setdefault(decision.business_id, ts)
        last_seen[decision.business_id] = ts
    order = sorted(first_seen, key=first_seen.get)
    assert order == list(BUSINESSES)
    assert last_seen[BUSINESSES[0]] < first_seen[BUSINESSES[1]] and last_seen[BUSINESSES[1]] < first_seen[BUSINESSES[2]]
