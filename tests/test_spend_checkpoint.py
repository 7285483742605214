"""GenesisMetaAgent's warm start: from the spend checkpoint and the lines appended since, every decision
is the one an agent rebuilding from both logs would make."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.approvals import halts
from genesis_payments.approvals.budget_usage import SpendFollower
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.approvals.spend_checkpoint import spend_checkpoint_path
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers import checkpoints
from genesis_payments.ledgers.ledgers import BusinessMonitor
from tests.support.approvals import FakeVendors
from tests.support.checkpoint_crash import killed_while_writing_checkpoint

START = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
AGENTS, VENDORS = ("agent-a", "agent-b"), ("llm:openai", "search:serpapi")
POLICY = {"review_threshold_usd": "8", "max_intent_usd": "20", "velocity_per_agent_per_minute": 3,
          "budgets": {"agent": {"default": {"daily": "30", "monthly": "120"}},
                      "vendor": {"default": {"daily": "40", "monthly": None}},
                      "business": {"default": {"daily": None, "monthly": "150"}}}}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def agent_on(config: Settings, clock: Clock, *, full: bool = False) -> GenesisMetaAgent:
    return GenesisMetaAgent(config, vendors=FakeVendors(), policy=policy_from_mapping(POLICY), clock=clock, full=full)


def observed(agent: GenesisMetaAgent, ids: list[str], horizon: str) -> dict:
    """What decisions depend on, as a full rebuild at this clock would hold it."""
    state = agent.state
    return {
        "locations": {i: state.location(i) for i in ids},
        "spent": {k: v for k, v in state.spent.items() if v and k[2][:7] >= horizon},
        "reserving": {i: s.reserving for i, s in state.intents.items() if s.month >= horizon},
        "pending": sorted(state.pending_ids),
        "reviews": sorted(r for r in state.review_deadlines if r[1] in state.pending_ids),
        "payments": {i: p for i, p in state.payment_statuses.items() if p}, "latest": state.latest_status,
        "halts": agent.halts.active, "chain_policy": agent._chain_policy,
        "tail": (agent._tail.offset, agent._tail.lines, agent._tail.last_hash, agent._tail.broken),
    }


def same_as_full_rebuild(config: Settings, warm: GenesisMetaAgent, clock: Clock, ids: list[str]) -> None:
    full = agent_on(config, clock, full=True)
    full.expire_overdue_reviews()
    warm.expire_overdue_reviews()
    assert observed(warm, ids, full.state.horizon) == observed(full, ids, full.state.horizon)


def random_run(rng: random.Random, config: Settings, agent: GenesisMetaAgent, clock: Clock, ids: list[str],
               payments: BusinessMonitor) -> None:
    for _ in range(rng.randrange(1, 12)):
        clock.now += timedelta(seconds=rng.choice([5, 20, 400, 3600, 86400 * 3]))
        roll = rng.random()
        if roll < 0.55 or not ids:
            iid = rng.choice(ids) if ids and rng.random() < 0.15 else f"i{len(ids)}"
            decision = agent.approve_payment_intent({
                "intent_id": iid, "agent": rng.choice(AGENTS), "vendor": rng.choice(VENDORS), "component": "c",
                "strategy": "s", "cost_usd": rng.choice(["1", "5", "9.5", "12"]),
                "business_id": rng.choice(["b1", "b2"])})
            if iid not in ids:
                ids.append(iid)
            if decision.decision == "pending_review" and rng.random() < 0.5:
                agent.resolve_review(iid, approve=rng.random() < 0.5, by="ops")
        elif roll < 0.85:
            iid = rng.choice(ids)
            payments.log_payment({"payment_id": f"p-{iid}-{rng.randrange(2)}", "intent_id": iid,
                                  "status": rng.choice(["authorized", "captured", "failed", "cancelled"]),
                                  "agent": AGENTS[0], "vendor": VENDORS[0], "chain": "eip155:8453",
                                  "token": "USDC", "amount_usd": "1"})
        elif roll < 0.95:
            scope, key = rng.choice([("agent", AGENTS[0]), ("vendor", VENDORS[1]), ("all", None)])
            try:
                halts.halt(config, scope, key, reason="test", by="ops", clock=clock)
            except Exception:
                halts.resume(config, scope, key, by="ops", clock=clock)
        else:
            config.transactions_path.parent.mkdir(parents=True, exist_ok=True)
            with open(config.transactions_path, "ab") as handle:  # a torn tail, finished later
                handle.write(b'{"bad')
            with open(config.transactions_path, "ab") as handle:
                handle.write(b'"}\n')


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), runs=st.integers(2, 5))
def test_restarts_from_the_checkpoint_decide_as_a_full_rebuild(tmp_path_factory, seed: int, runs: int) -> None:
    rng = random.Random(seed)
    config = Settings(root=tmp_path_factory.mktemp("spend"), fsync=False)
    clock, ids = Clock(START), []
    payments = BusinessMonitor(config)
    for _ in range(runs):
        agent = agent_on(config, clock)
        agent.checkpoint_every = rng.choice([1, 3, 1000])
        random_run(rng, config, agent, clock, ids, payments)
        agent.save_checkpoint() if rng.random() < 0.7 else None
        clock.now += timedelta(days=rng.choice([0, 1, 20]))
        warm = agent_on(config, clock)
        saved = spend_checkpoint_path(config).exists()
        same_as_full_rebuild(config, warm, clock, ids)
        assert warm.start_report["scan"] == ("incremental" if saved else "full")
    # The budget follower (exporter, monitor-alerts, status) starts from the same checkpoint.
    follower, fresh = SpendFollower(config, clock=clock), SpendFollower(config, clock=clock)
    fresh._checkpoint_tried = True
    policy = policy_from_mapping(POLICY)
    assert follower.usage(policy) == fresh.usage(policy)
    assert follower.halts.active == fresh.halts.active
    assert follower.start_report["scan"] == ("incremental" if spend_checkpoint_path(config).exists() else "full")
    # The next decision of a warm agent is the full rebuild's (on a copy of the root, which has no
    # usable checkpoint: its files are other inodes).
    twin = Settings(root=tmp_path_factory.mktemp("twin"), fsync=False)
    shutil.copytree(config.root, twin.root, dirs_exist_ok=True)
    probe = {"intent_id": "probe", "agent": AGENTS[0], "vendor": VENDORS[0], "component": "c", "strategy": "s",
             "cost_usd": "7", "business_id": "b1"}
    warm = agent_on(config, clock)
    copy = agent_on(twin, clock)
    mine, theirs = warm.approve_payment_intent(probe), copy.approve_payment_intent(probe)
    assert (mine.decision, mine.reasons) == (theirs.decision, theirs.reasons)
    assert copy.start_report["scan"] == "full"


def decided(config: Settings, clock: Clock, n: int) -> GenesisMetaAgent:
    agent = agent_on(config, clock)
    for k in range(n):
        clock.now += timedelta(seconds=30)
        agent.approve_payment_intent({"intent_id": f"i{k}", "agent": AGENTS[k % 2], "vendor": VENDORS[0],
                                      "component": "c", "strategy": "s", "cost_usd": "1", "business_id": "b1"})
    agent.save_checkpoint()
    return agent


def test_a_warm_start_reads_only_what_was_appended_and_says_so(settings) -> None:
    clock = Clock(START)
    decided(settings, clock, 4)
    second = agent_on(settings, clock)
    second.approve_payment_intent({"intent_id": "new", "agent": AGENTS[0], "vendor": VENDORS[0],
                                   "component": "c", "strategy": "s", "cost_usd": "1", "business_id": "b1"})
    assert second.start_report == {"scan": "incremental", "rescan_reason": None, "from_line": 4}
    assert second.state.location("i2") is not None
    same_as_full_rebuild(settings, agent_on(settings, clock), clock, ["i0", "i1", "i2", "i3", "new"])


def test_an_old_months_intents_are_found_in_the_archived_index(settings) -> None:
    clock = Clock(START)
    decided(settings, clock, 3)
    clock.now += timedelta(days=70)  # January is two months back: archived by a rebuild
    agent = agent_on(settings, clock, full=True)
    agent.save_checkpoint()
    warm = agent_on(settings, clock)
    again = warm.approve_payment_intent({"intent_id": "i1", "agent": AGENTS[1], "vendor": VENDORS[0],
                                         "component": "c", "strategy": "s", "cost_usd": "1", "business_id": "b1"})
    assert warm.start_report["scan"] == "incremental" and len(warm.state.archived_index) == 3
    assert again.ts.month == 1  # the intent's own decision, not a new one
    assert warm.state.location("i9") is None


def test_a_changed_log_or_a_bad_checkpoint_is_reported_and_rebuilt(settings, monkeypatch) -> None:
    clock = Clock(START)
    decided(settings, clock, 3)
    where = spend_checkpoint_path(settings)
    good = where.read_bytes()
    monkeypatch.setattr(checkpoints, "VERSION", checkpoints.VERSION + 1)
    agent = agent_on(settings, clock)
    agent.expire_overdue_reviews()
    assert "another version" in agent.start_report["rescan_reason"]
    monkeypatch.undo()
    where.write_bytes(b"garbage")
    agent = agent_on(settings, clock)
    agent.expire_overdue_reviews()
    assert "cannot be read" in agent.start_report["rescan_reason"]
    where.write_bytes(good)
    log_path = settings.approval_log_path
    data = log_path.read_bytes()
    copy = log_path.with_suffix(".new")
    copy.write_bytes(data)
    copy.replace(log_path)  # rotated: same bytes, another file
    agent = agent_on(settings, clock)
    agent.expire_overdue_reviews()
    assert "replaced" in agent.start_report["rescan_reason"]
    assert agent.state.location("i2") is not None
    for status in ("authorized", "cancelled"):
        BusinessMonitor(settings).log_payment({"payment_id": "p", "intent_id": "i2", "status": status,
                                               "agent": AGENTS[0], "vendor": VENDORS[0], "chain": "eip155:8453",
                                               "token": "USDC", "amount_usd": "1"})
    agent.save_checkpoint()
    events = settings.transactions_path
    events.with_suffix(".new").write_bytes(events.read_bytes())
    events.with_suffix(".new").replace(events)
    agent = agent_on(settings, clock)
    agent.expire_overdue_reviews()
    assert "transactions.jsonl was replaced" in agent.start_report["rescan_reason"]
    assert agent.state.intents["i2"].released
    agent.save_checkpoint()
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:2]))  # truncated
    agent = agent_on(settings, clock)
    try:
        agent.expire_overdue_reviews()
    except Exception:
        pass  # a log shorter than its recorded head is refused; what matters is the warm start was not used
    assert "truncated" in agent.start_report["rescan_reason"]


def test_a_run_killed_while_writing_the_checkpoint_leaves_the_previous_one(settings) -> None:
    clock = Clock(START)
    decided(settings, clock, 2)
    where = spend_checkpoint_path(settings)
    before = where.read_bytes()
    started = where.parent / "writing"
    script = f"""
import pathlib
from datetime import datetime
from genesis_payments.core.settings import Settings
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from tests.support.approvals import FakeVendors
from tests.support.checkpoint_crash import killed_while_writing_checkpoint
from tests.test_spend_checkpoint import POLICY
now = datetime.fromisoformat({clock.now.isoformat()!r})
agent = GenesisMetaAgent(Settings(root=pathlib.Path({str(settings.root)!r})), vendors=FakeVendors(),
                         policy=policy_from_mapping(POLICY), clock=lambda: now)
agent.approve_payment_intent({{"intent_id": "late", "agent": "agent-a", "vendor": "llm:openai",
    "component": "c", "strategy": "s", "cost_usd": "1", "business_id": "b1"}})
agent.save_checkpoint()
"""
    killed_while_writing_checkpoint(script, started)
    assert where.read_bytes() == before
    warm = agent_on(settings, clock)
    warm.expire_overdue_reviews()
    assert warm.start_report == {"scan": "incremental", "rescan_reason": None, "from_line": 2}
    assert warm.state.location("late") is not None  # the killed run's decision, read from the log
    same_as_full_rebuild(settings, warm, clock, ["i0", "i1", "late"])


def test_two_agents_checkpointing_at_once_leave_a_checkpoint_true_of_the_log(settings) -> None:
    """Checkpoints are written under the approval log's lock, after following it to its end: two
    processes deciding and checkpointing at once leave one that a third can start from."""
    script = """
import pathlib, sys
from datetime import datetime, UTC
from genesis_payments.core.settings import Settings
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from tests.support.approvals import FakeVendors
from tests.support.checkpoint_crash import killed_while_writing_checkpoint
from tests.test_spend_checkpoint import POLICY
now = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
agent = GenesisMetaAgent(Settings(root=pathlib.Path(sys.argv[1]), fsync=False), vendors=FakeVendors(),
                         policy=policy_from_mapping(POLICY), clock=lambda: now)
agent.checkpoint_every = 1
for k in range(40):
    agent.approve_payment_intent({"intent_id": f"{sys.argv[2]}-{k}", "agent": "agent-a", "vendor": "llm:openai",
        "component": "c", "strategy": "s", "cost_usd": "0.01", "business_id": "b1"})
"""
    worktree = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(worktree)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(settings.root), name], cwd=worktree, env=env)
             for name in ("x", "y")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    clock = Clock(START)
    warm = agent_on(settings, clock)
    warm.expire_overdue_reviews()
    assert warm.start_report["scan"] == "incremental"
    ids = [f"{n}-{k}" for n in "xy" for k in range(40)]
    assert all(warm.state.location(i) is not None for i in ids)
    same_as_full_rebuild(settings, warm, clock, ids)
    assert json.loads(settings.approval_log_path.read_bytes().splitlines()[-1])["intent_id"] in ids
