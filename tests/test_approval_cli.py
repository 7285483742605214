"""`genesis-payments approve` and `review`: one decision per line; reviews append `resolved_by`."""

from __future__ import annotations

import io
import json

import pytest

from genesis_payments.approvals import meta_agent
from genesis_payments.cli.main import main
from genesis_payments.ledgers.approval_log import open_approval_log
from tests.support.approval_stores import both_stores
from tests.support.approvals import FakeVendors, intent

pytestmark = both_stores


@pytest.fixture(autouse=True)
def fake_vendor_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda settings: FakeVendors())


def test_approve_reads_one_intent_from_stdin(settings, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(intent("2", intent_id="one"), indent=2)))
    assert main(["approve"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and json.loads(out[0])["decision"] == "approved"


def test_approve_file_prints_one_decision_per_line_and_reports_bad_lines(settings, tmp_path, capsys) -> None:
    path = tmp_path / "intents.jsonl"
    lines = [json.dumps(intent("1")), "{broken", json.dumps(intent("1", vendor="nope")),
             json.dumps(intent("30"))]
    path.write_text("\n".join(lines) + "\n")
    assert main(["approve", "--file", str(path)]) == 1
    captured = capsys.readouterr()
    decisions = [json.loads(line)["decision"] for line in captured.out.splitlines()]
    assert decisions == ["approved", "denied", "pending_review"]
    assert "line 2" in captured.err


def test_review_list_and_approve_by_decision_id(settings, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(intent("30", intent_id="big"))))
    main(["approve"])
    pending = json.loads(capsys.readouterr().out)
    assert main(["review", "list"]) == 0
    assert "big" in capsys.readouterr().out
    assert main(["review", "approve", pending["decision_id"], "--by", "carol"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert (resolved["decision"], resolved["resolved_by"]) == ("approved", "carol")
    assert open_approval_log(settings).latest_decision("big").resolved_by == "carol"
    assert main(["review", "deny", "big"]) == 1  # already resolved
    assert "already approved by carol" in capsys.readouterr().err


def test_review_deny_defaults_to_os_user(settings, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(intent("30", intent_id="big2"))))
    main(["approve"])
    capsys.readouterr()
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    assert main(["review", "deny", "big2"]) == 0
    assert json.loads(capsys.readouterr().out)["resolved_by"] == "os-user"
    assert main(["review", "approve", "no-such-id"]) == 1
