"""The approval side on a real PostgreSQL (§8, §12): budgets and halts hold across "hosts" (separate
roots on one database), the chain stays one chain, and writers killed or a server crashed mid-run
lose nothing acknowledged and leave nothing half-written."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from genesis_payments.approvals.halts import halt
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.errors import LedgerError
from genesis_payments.core.money import parse_usd, to_micro
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.audit import verify_approval_log
from tests.support.approvals import FakeVendors, chain_records, intent
from tests.support.halt_worker import assert_every_later_decision_denied, race

REPO = Path(__file__).resolve().parents[1]
BUDGET = "3000"  # about half of what the 2000 intents ask for
NONE = {"daily": None, "monthly": None}


def _host(tmp_path: Path, name: str, url: str, policy: dict | None = None) -> dict[str, str]:
    """A root of its own (a "host") on the shared database: the environment of its processes."""
    root = tmp_path / name
    (root / "config").mkdir(parents=True)
    if policy is not None:
        (root / "config" / "policy.json").write_text(json.dumps(policy))
    return {**os.environ, "GENESIS_ROOT": str(root), "GENESIS_DATABASE_URL": url, "PYTHONPATH": str(REPO),
            "GENESIS_FSYNC": "false"}


def _start_together(tmp_path: Path, procs: list[subprocess.Popen], ready: int) -> None:
    deadline = time.monotonic() + 90
    while len(list(tmp_path.glob("ready-*"))) < ready and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()


def _settings(url: str, root: Path) -> Settings:
    return Settings(root=root, database_url=url)


@pytest.mark.slow
def test_two_hosts_of_four_processes_never_pass_the_shared_daily_budget(pg_url, tmp_path) -> None:
    policy = {"review_threshold_usd": None, "max_intent_usd": None,
              "budgets": {"agent": {"default": {"daily": BUDGET, "monthly": None}},
                          "vendor": {"default": NONE}, "business": {"default": NONE}}}
    hosts = [_host(tmp_path, f"host-{h}", pg_url, policy) for h in range(2)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.budget_worker", str(w), "250", str(go)],
                              cwd=REPO, env=hosts[w // 4], stderr=subprocess.PIPE, text=True)
             for w in range(8)]
    _start_together(tmp_path, procs, 8)
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    settings = _settings(pg_url, tmp_path / "host-0")
    records = chain_records(settings)
    decisions = [r for r in records if "kind" not in r]
    assert len(decisions) == 2000 and len({d["intent_id"] for d in decisions}) == 2000
    assert verify_approval_log(settings).ok
    switches = sum(1 for a, b in itertools.pairwise(decisions) if a["business_id"] != b["business_id"])
    assert switches > 10  # the processes of both hosts really interleaved
    budget, reserved = to_micro(parse_usd(BUDGET)), 0
    for decision in decisions:  # replay in chain order: each decision was right given those before it
        cost = to_micro(parse_usd(decision["cost_usd"]))
        if decision["decision"] == "approved":
            assert reserved + cost <= budget
            reserved += cost
        else:
            assert [r.split(":")[0] for r in decision["reasons"]] == ["agent_daily_budget"]
            assert reserved + cost > budget
    assert 100 < sum(d["decision"] == "approved" for d in decisions) < 2000
    winners = {d["business_id"] for d in decisions if d["decision"] == "approved"}
    assert {"b0", "b4"} <= winners  # both hosts won some of the budget


@pytest.mark.slow
def test_halts_raced_from_two_hosts_deny_every_later_decision(pg_url, tmp_path) -> None:
    hosts = [_host(tmp_path, f"host-{h}", pg_url) for h in range(2)]
    # Approvers 0, 1 on host 0 and 2, 3 on host 1; halters 0, 1 on host 1 and 2, 3 on host 0.
    race(tmp_path, lambda role, w: hosts[(w // 2 + (role == "halt")) % 2])
    settings = _settings(pg_url, tmp_path / "host-0")
    assert_every_later_decision_denied(chain_records(settings))
    assert verify_approval_log(settings).ok


def _acks(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.mark.slow
def test_writers_killed_and_the_server_crashed_mid_run_lose_nothing_acknowledged(pg_cluster, pg_url,
                                                                                tmp_path) -> None:
    hosts = [_host(tmp_path, f"host-{h}", pg_url) for h in range(2)]
    go, count = tmp_path / "go", 300

    def writer(w: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.support.pg_approval_writer", str(w), str(count),
                                 str(tmp_path / f"ack-{w}"), str(go)],
                                cwd=REPO, env=hosts[w % 2], stderr=subprocess.PIPE, text=True)

    procs = [writer(w) for w in range(4)]
    _start_together(tmp_path, procs, 4)
    while len(_acks(tmp_path / "ack-0")) < 30:
        time.sleep(0.005)
    procs[0].send_signal(signal.SIGKILL)  # mid-run, most likely mid-transaction
    procs[1].send_signal(signal.SIGKILL)
    while len(_acks(tmp_path / "ack-2")) < 60:
        time.sleep(0.005)
    pg_cluster.cluster.restart(mode="immediate")  # a crash of the server under the other writers
    for proc in procs[:2]:
        proc.wait(timeout=30)
    acknowledged = {a["intent_id"]: a for w in (0, 1) for a in _acks(tmp_path / f"ack-{w}")}
    procs[:2] = [writer(0), writer(1)]  # the killed writers start again and complete
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    settings = _settings(pg_url, tmp_path / "host-0")
    report = verify_approval_log(settings)
    assert report.ok, report
    decisions = {r["intent_id"]: r for r in chain_records(settings) if "kind" not in r}
    assert len(decisions) == 4 * count == report.lines  # each intent decided once, nothing else written
    for w in range(4):
        for ack in _acks(tmp_path / f"ack-{w}"):
            assert decisions[ack["intent_id"]]["decision_id"] == ack["decision_id"]
            assert decisions[ack["intent_id"]]["hash"] == ack["hash"]
    for intent_id, ack in acknowledged.items():  # what a killed writer was told is what the chain holds
        assert decisions[intent_id]["hash"] == ack["hash"]
    with psycopg.connect(pg_url) as conn:
        open_transactions = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in%'"
        ).fetchone()[0]
    assert open_transactions == 0


def test_an_intent_is_unique_in_the_table_whatever_python_checks(pg_url, tmp_path) -> None:
    settings = _settings(pg_url, tmp_path)
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    first = agent.approve_payment_intent(intent("1", intent_id="only-once"))
    # A second writer that skipped the meta agent's own check still cannot decide the intent again.
    body = {**first.to_json_dict(), "decision_id": "another"}
    del body["hash"]
    log = agent.log
    with pytest.raises(psycopg.errors.UniqueViolation):
        log.run_locked(lambda handle: handle.append_record(_followed(log, handle), {**body, "prev_hash": first.hash}))
    assert verify_approval_log(settings).ok and len(chain_records(settings)) == 1


def _followed(log, handle):
    tail = log.new_tail()
    handle.follow(tail, lambda *_: None)
    return tail


def test_the_chain_refuses_updates_and_deletes(pg_url, tmp_path) -> None:
    settings = _settings(pg_url, tmp_path)
    GenesisMetaAgent(settings, vendors=FakeVendors()).approve_payment_intent(intent("1"))
    halt(settings, "all", None, reason="r", by="op")
    with psycopg.connect(pg_url) as conn:
        for statement in ("UPDATE approval_chain SET line = line || ' '", "DELETE FROM approval_chain",
                          "TRUNCATE approval_chain"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()
    assert verify_approval_log(settings).ok


def test_audit_verify_names_an_edited_and_a_removed_record(pg_url, tmp_path) -> None:
    settings = _settings(pg_url, tmp_path)
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    for n in range(3):
        agent.approve_payment_intent(intent("1", intent_id=f"i{n}"))
    with psycopg.connect(pg_url) as conn:  # an owner who disables the guard and edits a record
        conn.execute("ALTER TABLE approval_chain DISABLE TRIGGER approval_chain_append_only")
        conn.execute("UPDATE approval_chain SET line = replace(line, '\"1.000000\"', '\"0.000001\"') WHERE seq = 2")
        conn.commit()
    report = verify_approval_log(settings)
    assert not report.ok and report.first_bad_line == 2 and "edited" in report.reason
    with psycopg.connect(pg_url) as conn:
        conn.execute("DELETE FROM approval_chain WHERE seq >= 2")
        conn.commit()
    report = verify_approval_log(settings)
    assert not report.ok and report.first_bad_line == 2 and "head moved backwards" in report.reason
    with pytest.raises(LedgerError, match="broken"):  # and nothing is chained onto a cut chain
        GenesisMetaAgent(settings, vendors=FakeVendors()).approve_payment_intent(intent("1"))


def test_a_policy_change_on_one_host_is_described_from_the_policy_another_host_used(pg_url, tmp_path) -> None:
    open_policy = {"review_threshold_usd": None, "max_intent_usd": None,
                   "budgets": {s: {"default": NONE} for s in ("agent", "vendor", "business")}}
    one = _settings(pg_url, tmp_path / "host-0")
    other = _settings(pg_url, tmp_path / "host-1")
    for settings, policy in ((one, open_policy), (other, {**open_policy, "max_intent_usd": "7"})):
        settings.effective_policy_path.parent.mkdir(parents=True)
        settings.effective_policy_path.write_text(json.dumps(policy))
    GenesisMetaAgent(one, vendors=FakeVendors()).approve_payment_intent(intent("1"))
    GenesisMetaAgent(other, vendors=FakeVendors()).approve_payment_intent(intent("1"))
    change = [r for r in chain_records(one) if r.get("kind") == "policy_change"]
    assert [c["changes"] for c in change] == [['max_intent_usd: unset -> "7.000000"']]
    assert not (one.state_dir / "policies").exists()  # kept in the database, for every host


def _as_member(url: str, group: str) -> str:
    """The URL of a fresh host role, a member of `group` (docs/runbook.md: a role per host)."""
    from urllib.parse import urlsplit, urlunsplit

    user = f"host_{group}_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(f'CREATE ROLE "{user}" LOGIN IN ROLE {group}')
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}"))


def test_an_agent_host_role_decides_halts_and_verifies_with_least_privilege(pg_url, tmp_path) -> None:
    agent_url = _as_member(pg_url, "genesis_agent")
    settings = _settings(agent_url, tmp_path / "agent-host")
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    assert agent.approve_payment_intent(intent("1")).decision == "approved"
    assert agent.approve_payment_intent(intent("30")).decision == "pending_review"
    halt(settings, "agent", "agent-a", reason="r", by="op")
    assert agent.approve_payment_intent(intent("1")).decision == "denied"
    assert verify_approval_log(settings).ok
    jobs = _settings(_as_member(pg_url, "genesis_jobs"), tmp_path / "jobs-host")
    assert verify_approval_log(jobs).ok and len(chain_records(jobs)) == 4  # the jobs read everything
    reader = GenesisMetaAgent(jobs, vendors=FakeVendors())
    assert [d.intent_id for d in reader.read_pending_reviews()] == [chain_records(jobs)[1]["intent_id"]]
    with pytest.raises(LedgerError, match="refused to this host's database role"):  # but decide nothing
        reader.approve_payment_intent(intent("1"))


def test_a_files_chain_imported_exports_byte_for_byte_and_imports_once(pg_url, tmp_path) -> None:
    from genesis_payments.ledgers.approval_log import open_approval_log

    files = Settings(root=tmp_path / "files", fsync=False)
    agent = GenesisMetaAgent(files, vendors=FakeVendors())
    for n in range(5):
        agent.approve_payment_intent(intent(str(n * 10), agent="agent-ü", mandate_id=f"m{n}"))
    halt(files, "vendor", "llm:openai", reason="naïve text, 20 €", by="op")
    original = files.approval_log_path.read_bytes()
    log = open_approval_log(_settings(pg_url, tmp_path / "db"))
    assert log.import_lines(original.splitlines(keepends=True)) == 6
    assert b"".join(log.export_lines()) == original
    assert log.import_lines(original.splitlines(keepends=True)) == 0  # idempotent
    assert verify_approval_log(_settings(pg_url, tmp_path / "db")).ok
    edited = original.replace("naïve".encode(), b"naive")
    with pytest.raises(LedgerError, match="line 6: hash does not match"):
        log.import_lines(edited.splitlines(keepends=True))
