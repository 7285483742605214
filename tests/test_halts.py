"""Halts (§8): records of the hash chain that deny every new intent in their scope, in every process,
from the next decision on; `resume` lifts them; bad input is refused with a clear error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genesis_payments.approvals.halts import HaltError, active_halt, active_halts, halt, resume
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.cli.main import main
from genesis_payments.core.records import HaltRecord, ResumeRecord
from genesis_payments.ledgers.approval_log import open_approval_log
from genesis_payments.ledgers.audit import verify_approval_log
from tests.support.approval_stores import both_stores, files_only
from tests.support.approvals import FakeVendors, chain_records, intent
from tests.support.halt_worker import assert_every_later_decision_denied, race

pytestmark = both_stores

REPO = Path(__file__).resolve().parents[1]
OPEN = {"review_threshold_usd": None, "max_intent_usd": None,
        "budgets": {s: {"default": {"daily": None, "monthly": None}} for s in ("agent", "vendor", "business")}}


def _agent(settings) -> GenesisMetaAgent:
    return GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping(OPEN))


def _lines(settings) -> list[dict]:
    return chain_records(settings)


def test_a_halted_agent_is_denied_naming_the_halt_and_others_still_pass(settings) -> None:
    agent = _agent(settings)
    assert agent.approve_payment_intent(intent("1", agent="a")).decision == "approved"
    held = halt(settings, "agent", "a", reason="spending in a loop", by="ops-alice")
    denied = agent.approve_payment_intent(intent("1", agent="a"))  # the same running agent, next decision
    assert denied.decision == "denied"
    assert denied.reasons == [f"halted: {held.describe()}"]
    assert "ops-alice" in denied.reasons[0] and "spending in a loop" in denied.reasons[0]
    assert agent.approve_payment_intent(intent("1", agent="b")).decision == "approved"


@pytest.mark.parametrize(("scope", "key", "fields"), [
    ("all", None, {"agent": "x", "vendor": "llm:openai"}),
    ("vendor", "llm:openai", {"agent": "x", "vendor": "llm:openai"}),
])
def test_all_and_vendor_halts_cover_their_scope(settings, scope, key, fields) -> None:
    agent = _agent(settings)
    halt(settings, scope, key, reason="r", by="me")
    assert agent.approve_payment_intent(intent("1", **fields)).decision == "denied"
    if scope == "vendor":
        assert agent.approve_payment_intent(intent("1", agent="x", vendor="voice:elevenlabs")).decision == "approved"


def test_resume_lifts_the_halt_from_the_next_decision(settings) -> None:
    agent = _agent(settings)
    halt(settings, "agent", "a", reason="r", by="me")
    assert agent.approve_payment_intent(intent("1", agent="a")).decision == "denied"
    lifted = resume(settings, "agent", "a", by="me", reason="fixed")
    assert lifted.reason == "r"
    assert agent.approve_payment_intent(intent("1", agent="a")).decision == "approved"
    assert active_halts(settings) == []


def test_halts_and_resumes_are_chained_records_that_audit_verify_checks(store, settings) -> None:
    _agent(settings).approve_payment_intent(intent("1"))
    halt(settings, "all", None, reason="incident 42", by="me")
    resume(settings, "all", None, by="me")
    records = _lines(settings)
    assert [r.get("kind", "decision") for r in records] == ["decision", "halt", "resume"]
    HaltRecord.model_validate(records[1])
    ResumeRecord.model_validate(records[2])
    assert records[2]["halt_id"] == records[1]["halt_id"]
    report = verify_approval_log(settings)
    assert report.ok and report.counts == {"decision": 1, "halt": 1, "resume": 1}
    # Readers of decisions skip control records rather than report them as bad lines.
    read = open_approval_log(settings).read()
    assert len(read.records) == 1 and read.bad_lines == []
    if store == "postgres":
        return  # an edited row: tests/test_postgres_approvals.py
    # An edited halt breaks the chain like an edited decision.
    text = settings.approval_log_path.read_text().replace("incident 42", "incident 43")
    settings.approval_log_path.write_text(text)
    broken = verify_approval_log(settings)
    assert not broken.ok and broken.first_bad_line == 2 and "edited" in broken.reason


def test_active_halt_is_what_the_buyer_asks_before_a_capture(settings) -> None:
    assert active_halt(settings, agent="a", vendor="llm:openai") is None
    held = halt(settings, "vendor", "llm:openai", reason="seller double-charges", by="me")
    assert active_halt(settings, agent="a", vendor="llm:openai") == held
    assert active_halt(settings, agent="a", vendor="voice:elevenlabs") is None
    resume(settings, "vendor", "llm:openai", by="me")
    assert active_halt(settings, agent="a", vendor="llm:openai") is None  # read incrementally, still right


def test_halting_works_while_the_policy_file_is_broken(settings) -> None:
    settings.effective_policy_path.parent.mkdir(parents=True)
    settings.effective_policy_path.write_text("{ not json")
    assert halt(settings, "all", None, reason="policy broken, stop all", by="me").scope == "all"


# -- bad input -------------------------------------------------------------------------------------


def test_halt_without_reason_or_scope_is_a_usage_error(settings, capsys) -> None:
    # argparse's refusal is returned as exit code 2 by main() (the entry point raises SystemExit with it).
    assert main(["halt", "--agent", "a", "--by", "me"]) == 2
    assert main(["halt", "--reason", "r", "--by", "me"]) == 2
    assert main(["halt", "--agent", "a", "--reason", "   ", "--by", "me"]) == 2
    assert "needs a reason" in capsys.readouterr().err
    assert main(["halt", "--agent", "", "--reason", "r", "--by", "me"]) == 2
    assert chain_records(settings) == []


def test_resume_of_nothing_fails_naming_what_is_halted(settings, capsys) -> None:
    assert main(["resume", "--all", "--by", "me"]) == 1
    assert "nothing to resume: everything is not halted (halts in force: none)" in capsys.readouterr().err
    halt(settings, "agent", "a", reason="r", by="me")
    assert main(["resume", "--vendor", "v", "--by", "me"]) == 1
    assert "halts in force: agent 'a'" in capsys.readouterr().err
    with pytest.raises(HaltError, match="already halted"):
        halt(settings, "agent", "a", reason="again", by="me")


def test_halt_and_resume_from_the_command_line(settings, capsys) -> None:
    assert main(["halt", "--vendor", "llm:openai", "--reason", "r", "--by", "me", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["scope"] == "vendor" and printed["key"] == "llm:openai" and printed["by"] == "me"
    assert main(["resume", "--vendor", "llm:openai", "--by", "me"]) == 0
    assert "resumed vendor 'llm:openai'" in capsys.readouterr().out


@files_only  # the same race across two hosts on PostgreSQL: tests/test_postgres_approvals.py
@pytest.mark.slow
def test_halts_raced_from_four_processes_against_four_approvers(settings, genesis_root, tmp_path) -> None:
    env = {**os.environ, "GENESIS_ROOT": str(genesis_root), "PYTHONPATH": str(REPO), "GENESIS_FSYNC": "false"}
    race(tmp_path, lambda _role, _worker: env)
    assert_every_later_decision_denied(_lines(settings))
    assert verify_approval_log(settings).ok


@files_only  # a Prefect flow run over `halt`/`resume`, which both stores share
def test_the_halt_flow_halts_and_resumes_as_the_ui_would(flow_env, settings) -> None:
    from flows.halt import halt as halt_flow

    done = halt_flow(action="halt", scope="agent", key="a", reason="from the UI", by="ops-ui")
    assert done["action"] == "halt" and active_halt(settings, agent="a").by == "ops-ui"
    failed = halt_flow(action="halt", scope="agent", key="b", reason=None, by="ops-ui", return_state=True)
    assert failed.is_failed() and "needs a reason" in str(failed.result(raise_on_failure=False))
    halt_flow(action="resume", scope="agent", key="a", by="ops-ui")
    assert active_halts(settings) == []
