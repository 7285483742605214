"""`audit verify`: an intact chain passes; any edit, removal or reordering fails at that line."""

from __future__ import annotations

import json

import pytest

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.cli.main import main
from genesis_payments.ledgers.audit import verify_chain
from tests.support.approval_stores import both_stores
from tests.support.approvals import FakeVendors, intent

# Only the tests marked `both_stores` run on PostgreSQL too: the others edit, cut, reorder or replace
# the JSONL file's bytes (the table's own tampering cases are in tests/test_postgres_approvals.py).

N = 6


@pytest.fixture
def log_lines(settings) -> list[str]:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping({"review_threshold_usd": "5"}))
    for n in range(N):
        agent.approve_payment_intent(intent(str(n * 2), mandate_id=f"m{n}"))
    if settings.uses_postgres:
        return []  # nothing to edit in a file: the tests on both stores only read the chain
    return settings.approval_log_path.read_text().splitlines(keepends=True)


def _write(settings, lines: list[str]) -> None:
    settings.approval_log_path.write_text("".join(lines))


def _verify_exit(capsys) -> tuple[int, str]:
    code = main(["audit", "verify"])
    return code, capsys.readouterr().err


@both_stores
def test_intact_log_verifies(settings, log_lines, capsys) -> None:
    assert main(["audit", "verify"]) == 0
    assert f"{N} decisions" in capsys.readouterr().out


def _edited(line: str, field: str) -> str:
    record = json.loads(line)
    value = record[field]
    if isinstance(value, list):
        record[field] = [*value, "x"]
    elif field in ("hash", "prev_hash"):
        record[field] = ("1" if value[0] != "1" else "2") + value[1:]
    else:
        record[field] = value + "0" if field != "decision" else ("denied" if value != "denied" else "approved")
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


FIELDS = ["decision_id", "ts", "intent_id", "agent", "vendor", "component", "strategy", "cost_usd", "business_id",
          "decision", "reasons", "policy", "prev_hash", "hash", "mandate_id", "chain"]


@pytest.mark.parametrize("field", FIELDS)
def test_editing_any_field_of_any_line_fails_at_that_line(settings, log_lines, field, capsys) -> None:
    for index in range(N):
        lines = list(log_lines)
        lines[index] = _edited(lines[index], field)
        _write(settings, lines)
        report = verify_chain(settings.approval_log_path)
        assert (report.ok, report.first_bad_line) == (False, index + 1), (field, index, report)
    code, err = _verify_exit(capsys)
    assert code == 1 and f"line {N}" in err


def test_deleting_a_line_fails_at_that_line(settings, log_lines, capsys) -> None:
    for index in range(N - 1):
        _write(settings, log_lines[:index] + log_lines[index + 1:])
        report = verify_chain(settings.approval_log_path)
        assert (report.ok, report.first_bad_line) == (False, index + 1)
    _write(settings, log_lines[:2] + log_lines[3:])
    code, err = _verify_exit(capsys)
    assert code == 1 and "line 3:" in err and "removed" in err


def test_deleting_the_last_line_fails_after_a_verified_head(settings, log_lines, capsys) -> None:
    assert main(["audit", "verify"]) == 0  # records the verified head
    _write(settings, log_lines[:-1])
    code, err = _verify_exit(capsys)
    assert code == 1 and f"line {N}:" in err


def test_swapping_two_lines_fails_at_the_first_of_them(settings, log_lines) -> None:
    for first in range(N - 1):
        for second in range(first + 1, N):
            lines = list(log_lines)
            lines[first], lines[second] = lines[second], lines[first]
            _write(settings, lines)
            report = verify_chain(settings.approval_log_path)
            assert (report.ok, report.first_bad_line) == (False, first + 1), (first, second)


def test_a_torn_or_garbage_line_fails_at_that_line(settings, log_lines) -> None:
    _write(settings, [*log_lines[:3], "not json\n", *log_lines[3:]])
    assert verify_chain(settings.approval_log_path).first_bad_line == 4


# -- the end of the chain: recorded head and the decisions payments rely on ------------------------


@pytest.mark.parametrize("keep", [N - 1, N - 3, 0])
def test_cutting_the_tail_or_emptying_is_detected_without_any_earlier_verify(settings, log_lines, capsys, keep):
    # Every appender recorded the head it wrote: no `audit verify` has to have run before the cut.
    _write(settings, log_lines[:keep])
    code, err = _verify_exit(capsys)
    assert code == 1 and "head moved backwards" in err
    assert ("the log is empty" if keep == 0 else f"the log ends at line {keep}") in err
    assert f"line {N} (hash" in err


def test_a_deleted_log_is_detected(settings, log_lines, capsys) -> None:
    settings.approval_log_path.unlink()
    code, err = _verify_exit(capsys)
    assert code == 1 and "the log is empty" in err


def test_a_log_replaced_by_another_chain_of_the_same_length_is_detected(settings, log_lines, tmp_path, capsys):
    from genesis_payments.core.settings import Settings

    other = Settings(root=tmp_path / "other", fsync=False)
    agent = GenesisMetaAgent(other, vendors=FakeVendors(), policy=policy_from_mapping({"review_threshold_usd": "5"}))
    for n in range(N):
        agent.approve_payment_intent(intent(str(n)))
    settings.approval_log_path.write_bytes(other.approval_log_path.read_bytes())
    code, err = _verify_exit(capsys)
    assert code == 1 and "that line is now another record" in err


def test_a_payment_relying_on_a_removed_decision_is_detected(settings, log_lines, capsys) -> None:
    from genesis_payments.ledgers.chain_head import head_path
    from genesis_payments.ledgers.ledgers import BusinessMonitor

    last = json.loads(log_lines[-1])
    BusinessMonitor(settings).log_payment({
        "payment_id": "p1", "status": "authorized", "agent": last["agent"], "vendor": last["vendor"],
        "chain": "eip155:8453", "token": "USDC", "amount_usd": last["cost_usd"], "intent_id": last["intent_id"],
        "decision_hash": last["hash"],
    })
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    _write(settings, log_lines[:-1])
    head_path(settings).unlink()  # even with the recorded head gone too
    code, err = _verify_exit(capsys)
    assert code == 1 and "payment p1 at transactions line 1 relies on decision " + last["hash"] in err


@both_stores
def test_intact_log_reports_lines_by_kind(settings, log_lines, capsys) -> None:
    assert main(["audit", "verify"]) == 0
    assert f"{N} lines ({N} decisions)" in capsys.readouterr().out
