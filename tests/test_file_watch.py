"""FileWatch: one fstat says "unchanged"; every way of changing the file, or the name, says "maybe"."""

from __future__ import annotations

import os

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.file_watch import FileWatch
from tests.support.approvals import FakeVendors, intent


def test_unchanged_file_is_certain_and_each_change_is_maybe(tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text("a\n")
    watch = FileWatch(path)
    assert watch.maybe_changed() is True  # first look
    assert watch.maybe_changed() is False
    with open(path, "a") as handle:
        handle.write("b\n")
    assert watch.maybe_changed() is True
    assert watch.maybe_changed() is False
    os.truncate(path, 0)
    assert watch.maybe_changed() is True


def test_a_replaced_renamed_or_deleted_file_is_maybe(tmp_path) -> None:
    path = tmp_path / "f.json"
    path.write_text("{}")
    watch = FileWatch(path)
    watch.maybe_changed()
    other = tmp_path / "new.json"
    other.write_text("{}")
    os.replace(other, path)  # atomic replace: the watched file loses its name
    assert watch.maybe_changed() is True
    assert watch.maybe_changed() is False
    os.rename(path, tmp_path / "old.json")  # moved away, still linked elsewhere
    path.write_text("{}")
    assert watch.maybe_changed() is True
    assert watch.maybe_changed() is False
    path.unlink()
    assert watch.maybe_changed() is True
    assert watch.absent
    assert watch.maybe_changed() is True  # no file: always ask the path
    watch.close()


def test_policy_moved_away_and_replaced_is_picked_up(settings) -> None:
    path = settings.effective_policy_path
    path.parent.mkdir(parents=True)
    path.write_text('{"flagged_agents": ["agent-a"]}')
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    assert agent.approve_payment_intent(intent("1")).decision == "denied"
    os.rename(path, path.with_name("policy.old.json"))
    path.write_text('{"flagged_agents": []}')
    assert agent.approve_payment_intent(intent("1")).decision == "approved"


def test_broken_policy_fails_every_decision_until_fixed(settings) -> None:
    import pytest

    from genesis_payments.core.errors import ConfigError

    path = settings.effective_policy_path
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    path.write_text('{"max_intent_usd": 12.5.5}')
    for _ in range(2):
        with pytest.raises(ConfigError):
            agent.approve_payment_intent(intent("1"))
    path.write_text('{"max_intent_usd": "0.5"}')
    assert agent.approve_payment_intent(intent("1")).decision == "denied"
