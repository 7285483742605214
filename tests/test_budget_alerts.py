"""Budget alerts (§5): `budget_threshold` findings at 80 % and 100 % from the meta agent's own
reservations, alerted once per threshold per period."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from genesis_payments.approvals.budget_usage import SpendFollower, budget_threshold_findings, budget_usage
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import load_policy, policy_from_mapping
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor
from tests.support.approval_stores import both_stores
from tests.support.approvals import FakeVendors, intent

pytestmark = both_stores

NONE = {"daily": None, "monthly": None}
POLICY = {"review_threshold_usd": None, "max_intent_usd": None,
          "budgets": {"agent": {"default": {"daily": "10", "monthly": "100"}}, "vendor": {"default": NONE},
                      "business": {"default": NONE}}}


def _write_policy(settings) -> None:
    settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
    settings.effective_policy_path.write_text(json.dumps(POLICY))


def test_findings_name_the_highest_threshold_reached_per_budget_and_period(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(POLICY))
    agent.approve_payment_intent(intent("8", agent="a"))   # 80 % of the day, 8 % of the month
    agent.approve_payment_intent(intent("10", agent="b"))  # 100 % of the day
    agent.approve_payment_intent(intent("7.99", agent="c"))  # 79.9 %: nothing
    agent.approve_payment_intent(intent("5", agent="c"))   # denied (over), reserves nothing
    findings = budget_threshold_findings(SpendFollower(settings).usage(policy_from_mapping(POLICY)))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert findings == [
        {"kind": "budget_threshold", "scope": "agent", "key": "a", "period": "day", "period_start": today,
         "used_usd": "8.000000", "limit_usd": "10.000000", "percent": 80},
        {"kind": "budget_threshold", "scope": "agent", "key": "b", "period": "day", "period_start": today,
         "used_usd": "10.000000", "limit_usd": "10.000000", "percent": 100},
    ]


def test_usage_is_the_meta_agents_own_reservations_including_releases(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(POLICY))
    decision = agent.approve_payment_intent(intent("9", agent="a"))
    follower = SpendFollower(settings)
    [use] = [u for u in follower.usage(policy_from_mapping(POLICY)) if u.period == "day"]
    assert use.used_micro == 9_000_000 and use.used_micro == agent.state.reserved("agent", "a", use.label)
    payment = {"payment_id": "p1", "agent": "a", "vendor": "llm:openai", "chain": "eip155:8453", "token": "USDC",
               "amount_usd": "9", "intent_id": decision.intent_id}
    for status in ("authorized", "cancelled"):  # a payment's lifecycle (§4): a cancel follows its authorization
        BusinessMonitor(settings).log_payment({**payment, "status": status})
    assert follower.usage(policy_from_mapping(POLICY)) == []  # the cancel gave the reservation back


def test_usage_of_an_empty_root_is_empty(settings) -> None:
    assert budget_usage(SpendFollower(settings).refresh(), load_policy(settings), datetime.now(UTC)) == []


def test_monitor_alerts_reports_thresholds_and_alerts_each_once_per_period(store, flow_env) -> None:
    from flows.monitor_alerts import monitor_alerts

    settings = Settings()
    _write_policy(settings)
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    agent.approve_payment_intent(intent("8.5", agent="a"))
    first = monitor_alerts()
    assert first["counts"]["budget_threshold"] == 1
    [finding] = [f for f in first["findings"] if f["kind"] == "budget_threshold"]
    assert (finding["scope"], finding["key"], finding["period"], finding["percent"]) == ("agent", "a", "day", 80)
    assert first["alerts_sent"] == 1
    again = monitor_alerts()
    assert again["counts"]["budget_threshold"] == 1 and again["alerts_sent"] == 0  # still reported, not re-sent
    agent.approve_payment_intent(intent("1.5", agent="a"))
    full = monitor_alerts()
    assert [f["percent"] for f in full["findings"] if f["kind"] == "budget_threshold"] == [100]
    assert full["alerts_sent"] == 1
    outbox = [json.loads(line) for line in (settings.outbox_path.read_text().splitlines())]
    titles = [m["payload"]["embeds"][0]["title"] for m in outbox if m["channel"] == "alerts"]
    assert titles == ["Budget at 80 %", "Budget reached"]
