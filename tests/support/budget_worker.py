"""A separate process deciding intents against one shared daily budget (the concurrency test).

Usage: python -m tests.support.budget_worker WORKER COUNT GO_FILE  (GENESIS_ROOT in the environment)
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.settings import Settings
from tests.support.approvals import FakeVendors

AMOUNTS = ("0.5", "1", "2", "5", "10", "20")


def main() -> None:
    worker, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    agent = GenesisMetaAgent(Settings(), vendors=FakeVendors())
    rng = random.Random(worker)
    (go.parent / f"ready-{worker}").touch()
    while not go.exists():  # start together, so the processes really contend for the lock
        time.sleep(0.005)
    for n in range(count):
        agent.approve_payment_intent({
            "intent_id": f"w{worker}-{n}", "agent": "shared-agent", "vendor": "llm:openai",
            "component": "c", "strategy": "s", "cost_usd": rng.choice(AMOUNTS), "business_id": f"b{worker}",
        })


if __name__ == "__main__":
    main()
