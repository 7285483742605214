"""Policy controls (§8): the velocity limit, policy changes recorded in the chain, `policy show`, and
a policy file that others could write refused."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import load_policy, policy_from_mapping
from genesis_payments.cli.main import main
from genesis_payments.core.errors import ConfigError
from genesis_payments.core.records import PolicyChangeRecord
from genesis_payments.ledgers.audit import verify_approval_log
from tests.support.approval_stores import both_stores, files_only
from tests.support.approvals import FakeVendors, chain_records, intent

pytestmark = both_stores

OPEN = {"review_threshold_usd": None, "max_intent_usd": None,
        "budgets": {s: {"default": {"daily": None, "monthly": None}} for s in ("agent", "vendor", "business")}}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _lines(settings) -> list[dict]:
    return chain_records(settings)


def _write_policy(settings, data: dict) -> None:
    settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
    settings.effective_policy_path.write_text(json.dumps(data, indent=2))


# -- velocity --------------------------------------------------------------------------------------


def test_velocity_denies_the_approval_over_the_limit_in_any_60_seconds(settings) -> None:
    clock = Clock()
    policy = policy_from_mapping({**OPEN, "velocity_per_agent_per_minute": 2})
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=clock)
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    clock.now += timedelta(seconds=10)
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    clock.now += timedelta(seconds=10)
    third = agent.approve_payment_intent(intent("1"))
    assert third.decision == "denied"
    assert third.reasons == ["velocity: agent 'agent-a' had 2 approved intents in the last 60 seconds; "
                             "the policy allows 2 per minute"]
    assert agent.approve_payment_intent(intent("1", agent="agent-b")).decision == "approved"  # per agent
    clock.now += timedelta(seconds=41)  # the first approval is now 61 s old
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    # Another process on the same root counts the same approvals (derived from the log).
    other = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=clock)
    assert other.approve_payment_intent(intent("1")).decision == "denied"


def test_velocity_is_off_by_default(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(OPEN), clock=Clock())
    assert all(agent.approve_payment_intent(intent("1")).decision == "approved" for _ in range(30))


@files_only  # the policy file alone: the same on both stores
def test_a_velocity_limit_of_zero_is_a_configuration_error(settings, capsys) -> None:
    with pytest.raises(ConfigError, match=r"velocity_per_agent_per_minute.*at least 1.*halt --agent"):
        policy_from_mapping({"velocity_per_agent_per_minute": 0})
    _write_policy(settings, {"velocity_per_agent_per_minute": 0})
    assert main(["policy", "show"]) == 2
    assert "at least 1" in capsys.readouterr().err


# -- policy changes --------------------------------------------------------------------------------


def test_a_policy_edited_between_two_decisions_is_recorded_before_the_second(settings) -> None:
    _write_policy(settings, OPEN)
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    first = agent.approve_payment_intent(intent("1"))
    edited = {**OPEN, "max_intent_usd": "0.5", "flagged_agents": ["rogue"]}
    _write_policy(settings, edited)
    second = agent.approve_payment_intent(intent("1"))  # the same process, next decision
    assert second.decision == "denied" and second.reasons[0].startswith("over_intent_maximum")
    records = _lines(settings)
    assert [r.get("kind", "decision") for r in records] == ["decision", "policy_change", "decision"]
    change = PolicyChangeRecord.model_validate(records[1])
    assert change.old_policy == first.policy and change.new_policy == second.policy != first.policy
    assert change.changes == ['flagged_agents: [] -> ["rogue"]', 'max_intent_usd: unset -> "0.500000"']
    assert verify_approval_log(settings).ok
    # Unchanged policy: no further record.
    agent.approve_payment_intent(intent("0.1"))
    assert [r.get("kind", "decision") for r in _lines(settings)].count("policy_change") == 1


def test_a_fresh_log_records_no_change_and_a_restart_under_a_new_policy_does(settings) -> None:
    _write_policy(settings, OPEN)
    GenesisMetaAgent(settings, vendors=FakeVendors()).approve_payment_intent(intent("1"))
    assert len(_lines(settings)) == 1
    _write_policy(settings, {**OPEN, "review_timeout_seconds": 60})
    GenesisMetaAgent(settings, vendors=FakeVendors()).approve_payment_intent(intent("1"))
    records = _lines(settings)
    assert records[1]["kind"] == "policy_change"
    assert records[1]["changes"] == ["review_timeout_seconds: 3600 -> 60"]


@files_only  # the policy file alone: the same on both stores
def test_policy_show_prints_the_effective_policy_and_its_hash(settings, capsys) -> None:
    _write_policy(settings, {"max_intent_usd": "7"})
    assert main(["policy", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    policy = load_policy(settings)
    assert shown["hash"] == policy.hash
    assert shown["policy"]["max_intent_usd"] == "7.000000"
    assert shown["policy"]["budgets"]["agent"]["default"]["daily"] == "250.000000"  # defaults filled in
    assert main(["policy", "show"]) == 0
    assert capsys.readouterr().out.startswith(f"policy {policy.hash} (from {settings.effective_policy_path})")


@files_only  # the policy file alone: the same on both stores
@pytest.mark.parametrize(("mode", "who"), [(0o666, "others"), (0o664, "its group")])
def test_a_policy_file_others_can_write_is_refused(settings, capsys, mode, who) -> None:
    _write_policy(settings, OPEN)
    os.chmod(settings.effective_policy_path, mode)
    with pytest.raises(ConfigError, match=f"writable by {who}.*chmod go-w"):
        GenesisMetaAgent(settings, vendors=FakeVendors())
    intents = settings.root / "intents.jsonl"
    intents.write_text(json.dumps(intent("1")) + "\n")
    assert main(["approve", "--file", str(intents)]) == 2
    assert f"writable by {who}" in capsys.readouterr().err
    assert main(["policy", "show"]) == 2
    assert f"writable by {who}" in capsys.readouterr().err
    os.chmod(settings.effective_policy_path, 0o644)
    assert main(["policy", "show"]) == 0
