"""The approval log: `chained_line` gives exactly the bytes `audit verify` recomputes, and the
descriptor kept open across decisions notices a log rotated, replaced or deleted under it."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.core.errors import LedgerError
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import GENESIS_HASH, chained_line
from genesis_payments.ledgers.audit import verify_chain
from genesis_payments.ledgers.chain_head import head_path
from genesis_payments.ledgers.jsonl import canonical_json
from tests.support.approvals import FakeVendors, intent

BUDGETS_OFF = {s: {"default": {"daily": None, "monthly": None}} for s in ("agent", "vendor", "business")}

_KEYS = st.text(min_size=1, max_size=8).filter(lambda k: k != "hash")
_FLAT_VALUES = st.one_of(st.text(max_size=20), st.lists(st.text(max_size=10), max_size=3))


def _expected(body: dict) -> tuple[str, bytes]:
    digest = hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
    return digest, (canonical_json({**body, "hash": digest}) + "\n").encode("utf-8")


@given(st.dictionaries(_KEYS, _FLAT_VALUES, max_size=8))
def test_chained_line_is_the_canonical_line_with_its_hash(body):
    try:
        expected = _expected(body)
    except UnicodeEncodeError:  # a lone surrogate cannot be written at all
        with pytest.raises(UnicodeEncodeError):
            chained_line(body)
        return
    assert chained_line(body) == expected


def test_control_characters_and_non_ascii_text_are_escaped_as_canonical_json():
    body = {"agent": "a\u0000\u001f\u007f\"\\\n\t/é€😀\u2028", "intent_id": "i", "reasons": ["x\u0008", "ü"], "ts": "t"}
    assert chained_line(body) == _expected(body)


def test_nested_values_are_canonical_too():
    body = {"a": {"b": ["c", {"d": "e"}]}, "z": "y"}
    assert chained_line(body) == _expected(body)


# -- the descriptor kept open across decisions ---------------------------------------------------


def _agent(settings):
    budgets = {**BUDGETS_OFF, "agent": {"default": {"daily": "10"}}}
    data = {"review_threshold_usd": None, "max_intent_usd": None, "budgets": budgets}
    return GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(data))


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_log_rotated_away_with_its_head_starts_a_new_chain(settings):
    agent = _agent(settings)
    log = settings.approval_log_path
    assert agent.approve_payment_intent(intent("6")).decision == "approved"
    rotated = log.with_name("approval_log.1.jsonl")
    os.rename(log, rotated)  # a deliberate rotation moves the recorded head along with the log
    os.rename(head_path(settings), rotated.with_name("approval_log.1.head.json"))
    second = agent.approve_payment_intent(intent("6"))
    assert second.decision == "approved"  # budgets are rebuilt from the (new, empty) file at the path
    assert len(_lines(rotated)) == 1
    assert [r["decision_id"] for r in _lines(log)] == [second.decision_id]
    assert _lines(log)[0]["prev_hash"] == GENESIS_HASH and verify_chain(log).ok


def test_a_log_moved_away_without_its_head_is_refused_as_emptied(settings):
    agent = _agent(settings)
    agent.approve_payment_intent(intent("6"))
    os.rename(settings.approval_log_path, settings.approval_log_path.with_name("elsewhere.jsonl"))
    with pytest.raises(LedgerError, match="head moved backwards: the log is empty, but line 1"):
        agent.approve_payment_intent(intent("6"))
    assert settings.approval_log_path.read_text() == ""


def test_a_log_replaced_under_a_running_agent_is_refused(settings, tmp_path):
    agent = _agent(settings)
    agent.approve_payment_intent(intent("1"))
    agent.approve_payment_intent(intent("1"))
    other = Settings(root=tmp_path / "other", fsync=False)
    _agent(other).approve_payment_intent(intent("9"))
    os.replace(other.approval_log_path, settings.approval_log_path)  # another chain, one line long
    with pytest.raises(LedgerError, match="head moved backwards: the log ends at line 1"):
        agent.approve_payment_intent(intent("2"))
    assert len(_lines(settings.approval_log_path)) == 1


def test_a_deleted_log_is_refused_for_new_decisions(settings):
    agent = _agent(settings)
    agent.approve_payment_intent(intent("6"))
    settings.approval_log_path.unlink()
    with pytest.raises(LedgerError, match="head moved backwards"):
        GenesisMetaAgent(settings, vendors=FakeVendors()).approve_payment_intent(intent("6"))


def test_a_new_decision_is_refused_on_a_chain_broken_in_the_middle(settings):
    agent = _agent(settings)
    for _ in range(3):
        agent.approve_payment_intent(intent("1"))
    lines = settings.approval_log_path.read_text().splitlines(keepends=True)
    settings.approval_log_path.write_text(lines[0] + lines[2])  # line 2 removed: line 2 no longer links
    with pytest.raises(LedgerError, match=r"line 2: prev_hash does not match"):
        _agent(settings).approve_payment_intent(intent("1"))
    assert len(_lines(settings.approval_log_path)) == 2


def test_a_torn_tail_is_cut_before_the_next_record(settings):
    agent = _agent(settings)
    agent.approve_payment_intent(intent("1"))
    with open(settings.approval_log_path, "ab") as log:
        log.write(b'{"decision_id":"half-writ')  # a writer killed mid-append: never acknowledged
    second = _agent(settings).approve_payment_intent(intent("1"))
    assert [r["decision_id"] for r in _lines(settings.approval_log_path)][-1] == second.decision_id
    assert verify_chain(settings.approval_log_path).ok
