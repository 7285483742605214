"""`review list` is a read: it never opens the approval log for appending, never appends a timeout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.cli.main import main
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.postgres.approval_log import PgApprovalLog
from tests.support.approval_stores import both_stores
from tests.support.approvals import FakeVendors, chain_records, intent

pytestmark = both_stores


def test_review_list_never_takes_the_appending_lock(settings, monkeypatch, capsys) -> None:
    policy = policy_from_mapping({"review_threshold_usd": "5", "review_timeout_seconds": 60})
    old = datetime.now(UTC) - timedelta(hours=1)  # its review window closed long ago
    GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy, clock=lambda: old).approve_payment_intent(
        intent("10", intent_id="wait-1"))
    before = chain_records(settings)

    def refuse(self, *args, **kwargs):
        raise AssertionError("review list opened the approval log for appending")

    monkeypatch.setattr(ApprovalLog, "locked", refuse)
    monkeypatch.setattr(PgApprovalLog, "run_locked", refuse)
    assert main(["review", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["intent_id"] for d in listed] == ["wait-1"]
    assert chain_records(settings) == before


def test_review_list_on_a_root_without_a_log_creates_none(settings, capsys) -> None:
    assert main(["review", "list"]) == 0
    assert "no decisions waiting for review" in capsys.readouterr().out
    assert not settings.approval_log_path.exists() and chain_records(settings) == []
