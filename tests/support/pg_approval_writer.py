"""A writer of decisions for the PostgreSQL crash test: decides COUNT intents and records each
acknowledged one (the decision returned) in ACK_FILE, fsynced, before deciding the next.

Usage: python -m tests.support.pg_approval_writer WORKER COUNT ACK_FILE GO_FILE
(GENESIS_ROOT and GENESIS_DATABASE_URL in the environment)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.settings import Settings
from tests.support.approvals import FakeVendors


def main() -> None:
    worker, count, ack, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    agent = GenesisMetaAgent(Settings(), vendors=FakeVendors())
    (go.parent / f"ready-{worker}").touch()
    while not go.exists():
        time.sleep(0.005)
    with open(ack, "a", encoding="utf-8") as out:
        for n in range(count):
            decision = agent.approve_payment_intent({
                "intent_id": f"w{worker}-{n}", "agent": f"agent-{worker}", "vendor": "llm:openai",
                "component": "c", "strategy": "s", "cost_usd": "0.01", "business_id": f"b{worker}",
            })
            out.write(json.dumps({"intent_id": decision.intent_id, "decision_id": decision.decision_id,
                                  "hash": decision.hash}) + "\n")
            out.flush()
            os.fsync(out.fileno())


if __name__ == "__main__":
    main()
