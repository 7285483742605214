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
