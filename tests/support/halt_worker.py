"""A separate process for the halt race: `approve` decides intents of four agents in a loop until
told to stop; `halt` halts one agent (through the CLI) once the approvers are running.

Usage: python -m tests.support.halt_worker approve|halt WORKER GO_FILE  (GENESIS_ROOT in the environment)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.cli.main import main as cli
from genesis_payments.core.settings import Settings
from tests.support.approvals import FakeVendors

AGENTS = ("agent-0", "agent-1", "agent-2", "agent-3")


def approve(worker: int, go: Path) -> None:
    agent = GenesisMetaAgent(Settings(), vendors=FakeVendors())
    (go.parent / f"ready-approve-{worker}").touch()
    while not go.exists():
        time.sleep(0.005)
    n = 0
    stop = go.parent / "stop"
    while not stop.exists() and n < 5000:
        agent.approve_payment_intent({
            "intent_id": f"w{worker}-{n}", "agent": AGENTS[n % 4], "vendor": "llm:openai",
            "component": "c", "strategy": "s", "cost_usd": "0.01", "business_id": f"b{worker}",
        })
        n += 1


def halt(worker: int, go: Path) -> None:
    (go.parent / f"ready-halt-{worker}").touch()
    while not go.exists():
        time.sleep(0.005)
    time.sleep(0.2 + 0.1 * worker)  # while the approvers are busy
    code = cli(["halt", "--agent", AGENTS[worker], "--reason", "race test", "--by", f"op-{worker}"])
    raise SystemExit(code)


if __name__ == "__main__":
    role, number, go_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    (approve if role == "approve" else halt)(number, go_file)


def race(folder: Path, env_of) -> None:
    """Four approvers and four halters (`env_of(role, worker)`: each one's environment) started
    together; the approvers stop a little after the last halt. For tests/test_halts.py and
    tests/test_postgres_approvals.py."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    go = folder / "go"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.halt_worker", role, str(w), str(go)],
                              cwd=repo, env=env_of(role, w), stderr=subprocess.PIPE, text=True)
             for role in ("approve", "halt") for w in range(4)]
    deadline = time.monotonic() + 90
    while len(list(folder.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for proc in procs[4:]:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    time.sleep(0.3)  # approvers keep deciding after the last halt
    (folder / "stop").touch()
    for proc in procs[:4]:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def assert_every_later_decision_denied(records: list[dict]) -> None:
    """In chain order: each agent's halt came, and every decision for it after its halt is a denial."""
    halted_at = {r["key"]: n for n, r in enumerate(records) if r.get("kind") == "halt"}
    assert sorted(halted_at) == list(AGENTS)
    after = {key: [r for r in records[n + 1:] if r.get("agent") == key] for key, n in halted_at.items()}
    for key, decisions in after.items():
        assert all(d["decision"] == "denied" and d["reasons"][0].startswith("halted: ") for d in decisions), key
    assert sum(len(d) for d in after.values()) > 0  # approvers really decided after some halt
    assert [r for r in records[:min(halted_at.values())] if r.get("decision") == "approved"]  # and before the first
