"""4 processes × 500 intents against one daily budget: never exceeded, and approvals stop only when needed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genesis_payments.core.money import parse_usd, to_micro
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.ledgers.audit import verify_chain

REPO = Path(__file__).resolve().parents[1]
BUDGET = "6000"  # about half of what the 2000 intents ask for
NONE = {"daily": None, "monthly": None}


@pytest.mark.slow
def test_four_processes_never_pass_the_shared_daily_budget(settings, genesis_root, tmp_path) -> None:
    policy = {
        "review_threshold_usd": None,
        "max_intent_usd": None,
        "budgets": {"agent": {"default": {"daily": BUDGET, "monthly": None}},
                    "vendor": {"default": NONE}, "business": {"default": NONE}},
    }
    settings.effective_policy_path.parent.mkdir(parents=True)
    settings.effective_policy_path.write_text(json.dumps(policy))
    go = tmp_path / "go"
    env = {**os.environ, "GENESIS_ROOT": str(genesis_root), "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.budget_worker", str(w), "500", str(go)],
                         cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    ready = [tmp_path / f"ready-{w}" for w in range(4)]
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err

    lines = settings.approval_log_path.read_text().splitlines()
    decisions = [ApprovalDecision.model_validate_json(line) for line in lines]
    assert len(decisions) == 2000 and len({d.intent_id for d in decisions}) == 2000
    assert verify_chain(settings.approval_log_path).ok

    switches = sum(1 for a, b in itertools.pairwise(decisions) if a.business_id != b.business_id)
    assert switches > 10  # the processes really interleaved
    budget, reserved, approved = to_micro(parse_usd(BUDGET)), 0, 0
    for decision in decisions:  # replay in log order: each decision was right given those before it
        cost = to_micro(decision.cost_usd)
        if decision.decision == "approved":
            assert reserved + cost <= budget
            reserved += cost
            approved += 1
        else:
            assert decision.decision == "denied"
            assert [r.split(":")[0] for r in decision.reasons] == ["agent_daily_budget"]
            assert reserved + cost > budget
    assert reserved <= budget
    assert approved > 100 and approved < 2000
    approved_order = [d.business_id for d in decisions if d.decision == "approved"]
    assert len(set(approved_order)) == 4  # every process won some of the budget

