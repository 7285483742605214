"""GenesisMetaAgent: every rule applies to every intent, budgets are reservations derived from the logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from genesis_payments.approvals.meta_agent import GenesisMetaAgent, IntentDenied, require_approved
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.core.errors import InvalidRecord
from genesis_payments.ledgers.ledgers import BusinessMonitor
from tests.support.approval_stores import both_stores
from tests.support.approvals import FakeVendors, chain_records, intent

pytestmark = both_stores

BUDGETS_OFF = {s: {"default": {"daily": None, "monthly": None}} for s in ("agent", "vendor", "business")}


def make_agent(settings, **policy) -> GenesisMetaAgent:
    data = {"review_threshold_usd": None, "max_intent_usd": None, "budgets": BUDGETS_OFF, **policy}
    return GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(data))


def rule_names(decision) -> list[str]:
    return [reason.split(":", 1)[0] for reason in decision.reasons]


# Each case: (policy, intent fields, the one rule expected to fail).
RULES = [
    ({}, {"vendor": "evil:vendor"}, ["vendor_not_allowlisted", "vendor_unsupported"]),
    ({"vendor_allowlist": None}, {"vendor": "evil:vendor"}, ["vendor_unsupported"]),
    ({}, {"chain": "eip155:1"}, ["vendor_unsupported"]),
    ({}, {"token": "DAI"}, ["vendor_unsupported"]),
    ({"flagged_agents": ["agent-a"]}, {}, ["agent_flagged"]),
    ({"flagged_mandates": ["m-9"]}, {"mandate_id": "m-9"}, ["mandate_flagged"]),
    ({"max_intent_usd": "0.5"}, {}, ["over_intent_maximum"]),
]
for scope in ("agent", "vendor", "business"):
    for period in ("daily", "monthly"):
        budgets = {**BUDGETS_OFF, scope: {"default": {period: "0.5"}}}
        RULES.append(({"budgets": budgets}, {}, [f"{scope}_{period}_budget"]))


@pytest.mark.parametrize(("policy", "fields", "expected"), RULES, ids=[r[2][-1] + str(i) for i, r in enumerate(RULES)])
def test_each_rule_alone_denies_and_is_named(settings, policy, fields, expected) -> None:
    agent = make_agent(settings, **policy)
    assert agent.approve_payment_intent(intent("1", **fields)).decision == "denied"
    denied = agent.approve_payment_intent(intent("1", **fields))
    assert rule_names(denied) == expected
    # The same intent without the offending part is approved: the rule, not the setup, denied it.
    clean = make_agent(settings, **{k: v for k, v in policy.items() if k == "vendor_allowlist"})
    assert clean.approve_payment_intent(intent("1")).decision == "approved"


@pytest.mark.parametrize("cost", ["0", "0.000001", "0.01", "1", "9.99"])
def test_tiny_intent_from_vendor_off_the_allowlist_is_denied(settings, cost) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(vendors=["llm:openai", "rogue:vendor"]))
    decision = agent.approve_payment_intent(intent(cost, vendor="rogue:vendor"))
    assert decision.decision == "denied"
    assert rule_names(decision) == ["vendor_not_allowlisted"]


def test_every_failed_rule_is_listed(settings) -> None:
    agent = make_agent(settings, flagged_agents=["agent-a"], flagged_mandates=["m"], max_intent_usd="1",
                       budgets={**BUDGETS_OFF, "business": {"default": {"daily": "1"}}})
    decision = agent.approve_payment_intent(intent("5", vendor="nope", mandate_id="m"))
    assert rule_names(decision) == ["vendor_not_allowlisted", "vendor_unsupported", "agent_flagged",
                                    "mandate_flagged", "over_intent_maximum", "business_daily_budget"]


def test_above_review_threshold_is_pending_and_reserves_budget(settings) -> None:
    agent = make_agent(settings, review_threshold_usd="10",
                       budgets={**BUDGETS_OFF, "agent": {"default": {"daily": "30"}}})
    assert agent.approve_payment_intent(intent("10")).decision == "approved"  # at the threshold: approved
    pending = agent.approve_payment_intent(intent("15"))
    assert pending.decision == "pending_review" and rule_names(pending) == ["review_threshold"]
    assert rule_names(agent.approve_payment_intent(intent("6"))) == ["agent_daily_budget"]
    agent.resolve_review(pending.intent_id, approve=False, by="bob")
    assert agent.approve_payment_intent(intent("6")).decision == "approved"


def test_overrides_replace_the_default_for_one_id(settings) -> None:
    budgets = {**BUDGETS_OFF, "agent": {"default": {"daily": "5"}, "overrides": {"big-agent": {"daily": "50"}}}}
    agent = make_agent(settings, budgets=budgets)
    assert agent.approve_payment_intent(intent("20", agent="big-agent")).decision == "approved"
    assert agent.approve_payment_intent(intent("20", agent="agent-a")).decision == "denied"


def test_denied_decision_halts_execution(settings) -> None:
    decision = make_agent(settings, flagged_agents=["agent-a"]).approve_payment_intent(intent("1"))
    with pytest.raises(IntentDenied, match="agent_flagged"):
        require_approved(decision)


def test_an_intent_is_decided_once(settings) -> None:
    agent = make_agent(settings)
    first = agent.approve_payment_intent(intent("1", intent_id="same"))
    again = agent.approve_payment_intent(intent("1", intent_id="same"))
    assert again.decision_id == first.decision_id
    assert len(chain_records(settings)) == 1


def test_bad_intent_is_refused_before_anything_is_written(settings) -> None:
    with pytest.raises(InvalidRecord, match="cost_usd"):
        make_agent(settings).approve_payment_intent(intent("1.0000001"))
    assert chain_records(settings) == []


def _daily(limit: str) -> dict:
    return {**BUDGETS_OFF, "agent": {"default": {"daily": limit}}}


def test_restart_enforces_the_same_remaining_budget(settings) -> None:
    first = make_agent(settings, budgets=_daily("10"))
    for cost in ("3", "4"):
        assert first.approve_payment_intent(intent(cost)).decision == "approved"
    restarted = make_agent(settings, budgets=_daily("10"))
    assert restarted.approve_payment_intent(intent("3.000001")).decision == "denied"
    assert restarted.approve_payment_intent(intent("3")).decision == "approved"
    assert restarted.approve_payment_intent(intent("0.000001")).decision == "denied"


def test_cancel_releases_the_reservation(settings) -> None:
    agent = make_agent(settings, budgets=_daily("10"))
    decisions = [agent.approve_payment_intent(intent("5")) for _ in range(2)]
    assert agent.approve_payment_intent(intent("5")).decision == "denied"
    monitor = BusinessMonitor(settings)
    base = {"payment_id": "pay-1", "agent": "agent-a", "vendor": "llm:openai", "chain": "eip155:8453",
            "token": "USDC", "amount_usd": "5", "intent_id": decisions[0].intent_id}
    monitor.log_payment({**base, "status": "authorized"})
    monitor.log_payment({**base, "status": "cancelled"})
    assert agent.approve_payment_intent(intent("5")).decision == "approved"
    # A restarted agent sees the same release.
    assert make_agent(settings, budgets=_daily("10")).approve_payment_intent(intent("0.01")).decision == "denied"


@pytest.mark.parametrize("status", ["failed", "expired"])
def test_failed_or_expired_payment_also_releases(settings, status) -> None:
    agent = make_agent(settings, budgets=_daily("5"))
    decision = agent.approve_payment_intent(intent("5"))
    base = {"payment_id": "p", "agent": "agent-a", "vendor": "llm:openai", "chain": "eip155:8453", "token": "USDC",
            "amount_usd": "5", "intent_id": decision.intent_id}
    BusinessMonitor(settings).log_payment({**base, "status": "authorized"})
    BusinessMonitor(settings).log_payment({**base, "status": status})
    assert agent.approve_payment_intent(intent("5")).decision == "approved"


def test_a_second_payments_cancel_never_releases_a_captured_payments_reservation(settings) -> None:
    agent = make_agent(settings, budgets=_daily("5"))
    decision = agent.approve_payment_intent(intent("5"))
    monitor = BusinessMonitor(settings)
    base = {"agent": "agent-a", "vendor": "llm:openai", "chain": "eip155:8453", "token": "USDC",
            "amount_usd": "5", "intent_id": decision.intent_id}
    for payment, statuses in (("p-1", ("authorized", "captured")), ("p-2", ("authorized", "cancelled")),
                              ("p-1", ("cancelled",))):  # the last one the state machine refuses
        for status in statuses:
            monitor.log_payment({**base, "payment_id": payment, "status": status})
    assert rule_names(agent.approve_payment_intent(intent("5"))) == ["agent_daily_budget"]
    restarted = make_agent(settings, budgets=_daily("5"))
    assert rule_names(restarted.approve_payment_intent(intent("5"))) == ["agent_daily_budget"]


def test_budgets_are_per_utc_day_and_month(settings) -> None:
    now = [datetime(2026, 11, 30, 23, 59, tzinfo=UTC)]
    policy = policy_from_mapping({"review_threshold_usd": None, "max_intent_usd": None,
                                  "budgets": {**BUDGETS_OFF, "agent": {"default": {"daily": "10", "monthly": "15"}}}})
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=lambda: now[0])
    assert agent.approve_payment_intent(intent("10")).decision == "approved"
    assert rule_names(agent.approve_payment_intent(intent("1"))) == ["agent_daily_budget"]
    now[0] += timedelta(minutes=2)  # December: a new day and a new month
    assert agent.approve_payment_intent(intent("10")).decision == "approved"
    now[0] += timedelta(days=1)
    assert rule_names(agent.approve_payment_intent(intent("6"))) == ["agent_monthly_budget"]


def test_unanswered_review_expires_to_denied_and_releases(settings) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    policy = policy_from_mapping({"review_threshold_usd": "1", "review_timeout_seconds": 60, "max_intent_usd": None,
                                  "budgets": _daily("10")})
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=lambda: now[0])
    pending = agent.approve_payment_intent(intent("10"))
    assert pending.decision == "pending_review"
    now[0] += timedelta(seconds=61)
    assert agent.pending_reviews() == []
    latest = agent.latest_decision(pending.intent_id)
    assert latest.decision == "denied" and latest.resolved_by == "system:review-timeout"
    assert agent.approve_payment_intent(intent("10")).decision == "pending_review"


def test_policy_file_is_read_and_its_hash_recorded(settings) -> None:
    import hashlib

    path = settings.effective_policy_path
    path.parent.mkdir(parents=True)
    path.write_text('{"flagged_agents": ["agent-a"]}')
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    decision = agent.approve_payment_intent(intent("1"))
    assert rule_names(decision) == ["agent_flagged"]
    assert decision.policy == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text('{"flagged_agents": []}   ')
    assert agent.approve_payment_intent(intent("1")).decision == "approved"  # picked up without a restart


def test_fresh_root_runs_with_documented_defaults(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    assert agent.policy.source == "defaults"
    assert agent.approve_payment_intent(intent("25")).decision == "approved"
    assert agent.approve_payment_intent(intent("25.01")).decision == "pending_review"
    assert rule_names(agent.approve_payment_intent(intent("100.01"))) == ["over_intent_maximum"]
    assert agent.policy.limit_micro("agent", "x", "daily") == 250_000_000
    assert Decimal(agent.policy.max_intent_usd) == 100


def test_restart_keeps_old_months_out_of_budgets_but_still_knows_their_intents(settings) -> None:
    def at(moment: datetime) -> GenesisMetaAgent:
        policy = policy_from_mapping({"review_threshold_usd": None, "max_intent_usd": None,
                                      "budgets": {**BUDGETS_OFF, "agent": {"default": {"monthly": "10"}}}})
        return GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=lambda: moment)

    old = at(datetime(2026, 8, 3, tzinfo=UTC)).approve_payment_intent(intent("10", intent_id="august"))
    november = at(datetime(2026, 11, 26, tzinfo=UTC))
    assert november.approve_payment_intent(intent("10", intent_id="august")).decision_id == old.decision_id
    assert november.approve_payment_intent(intent("10")).decision == "approved"
    assert november.latest_decision("august").ts == old.ts


def test_a_broken_policy_file_fails_closed_until_fixed(settings) -> None:
    from genesis_payments.core.errors import ConfigError

    path = settings.effective_policy_path
    path.parent.mkdir(parents=True)
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    path.write_text('{"max_intent_usd": 12.5.5}')
    for _ in range(2):
        with pytest.raises(ConfigError, match="policy"):
            agent.approve_payment_intent(intent("1"))
    path.write_text('{"max_intent_usd": "0.5"}')
    assert rule_names(agent.approve_payment_intent(intent("1"))) == ["over_intent_maximum"]


def test_a_forked_child_takes_its_own_lock(settings) -> None:
    import os

    agent = make_agent(settings, budgets=_daily("10"))
    agent.approve_payment_intent(intent("1"))
    pid = os.fork()
    if pid == 0:  # child: every lock opens its own descriptor, so it never shares the parent's flock
        try:
            agent.approve_payment_intent(intent("1", intent_id="from-child"))
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child's decision is in the log and counts: 1 + 1 + 9 > 10.
    assert rule_names(agent.approve_payment_intent(intent("9", intent_id="from-parent"))) == ["agent_daily_budget"]


def test_returned_decisions_equal_the_logged_lines_validated(settings):
    from genesis_payments.core.records import ApprovalDecision

    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping({"review_threshold_usd": "5"}))
    returned = [
        agent.approve_payment_intent(intent("1")),
        agent.approve_payment_intent(intent("2")),
        agent.approve_payment_intent(intent("6", mandate_id="m1")),
        agent.approve_payment_intent(intent("1", vendor="evil:vendor"), annotations={"flow_run_id": "r1"}),
    ]
    logged = [ApprovalDecision.model_validate(record) for record in chain_records(settings)]
    assert returned == logged


def test_an_annotation_cannot_turn_a_decision_into_a_control_record(settings):
    agent = make_agent(settings)
    decision = agent.approve_payment_intent(intent("1"), annotations={"kind": "halt", "hash": "x", "note": "n"})
    assert "kind" not in chain_records(settings)[-1] and decision.model_extra["note"] == "n"
