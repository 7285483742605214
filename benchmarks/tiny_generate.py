"""A tiny stand-in for `benchmarks/generate.py` (being written elsewhere): ledgers of N payments.

Writes `transactions.jsonl` (authorized then captured, a few failed/stale) and the finance ledger
(one debit per capture), with a handful of planted discrepancies, directly with `encode_line`.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc
from genesis_payments.ledgers.jsonl import encode_line

AGENTS = [f"agent-{i:02d}" for i in range(12)]
VENDORS = ["openai", "anthropic", "payments:deploy:vercel", "replicate", "elevenlabs", "stability/sdxl"]


def generate(root: Path, payments: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    settings = Settings(root=root)
    tx, ledger = settings.transactions_path, settings.finance_ledger_path
    tx.parent.mkdir(parents=True, exist_ok=True)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    planted = {"missing_in_ledger": 0, "amount_mismatch": 0, "duplicate_entry": 0,
               "missing_in_transactions": 0, "debit_without_capture": 0}
    with open(tx, "wb") as events, open(ledger, "wb") as entries:
        for n in range(payments):
            pid = f"pay-{seed}-{n:09d}"
            agent, vendor = rng.choice(AGENTS), rng.choice(VENDORS)
            micro = rng.randint(1, 50_000_000)
            ts = start + timedelta(seconds=n * 2)
            base = {"payment_id": pid, "agent": agent, "vendor": vendor, "chain": "eip155:8453",
                    "token": "USDC", "amount_usd": format_usd(from_micro(micro)), "business_id": f"biz-{n % 997}",
                    "intent_id": f"int-{n:09d}"}
            events.write(encode_line({**base, "event_id": f"ev-{n}-a", "ts": format_utc(ts), "status": "authorized",
                                      "valid_before": format_utc(ts + timedelta(minutes=30))}))
            roll = rng.random()
            if roll < 0.01:
                events.write(encode_line({**base, "event_id": f"ev-{n}-f", "ts": format_utc(ts + timedelta(seconds=1)),
                                          "status": "failed", "error": "vendor 502"}))
                if roll < 0.0002:
                    planted["debit_without_capture"] += 1
                    entries.write(_debit(pid, agent, vendor, micro, ts, "x"))
                continue
            events.write(encode_line({**base, "event_id": f"ev-{n}-c", "ts": format_utc(ts + timedelta(seconds=1)),
                                      "status": "captured", "tx_hash": "0x" + f"{n:064x}"}))
            roll = rng.random()
            if roll < 0.0002:
                planted["missing_in_ledger"] += 1
                continue
            if roll < 0.0004:
                planted["amount_mismatch"] += 1
                micro += 1
            entries.write(_debit(pid, agent, vendor, micro, ts, "d"))
            if 0.0004 <= roll < 0.0006:
                planted["duplicate_entry"] += 1
                entries.write(_debit(pid, agent, vendor, micro, ts, "dup"))
            if 0.0006 <= roll < 0.0008:
                planted["missing_in_transactions"] += 1
                entries.write(_debit(f"ghost-{n}", agent, vendor, micro, ts, "g"))
    return {"payments": payments, "planted": planted}


def _debit(pid: str, agent: str, vendor: str, micro: int, ts: datetime, tag: str) -> bytes:
    return encode_line({"entry_id": f"en-{pid}-{tag}", "ts": format_utc(ts + timedelta(seconds=2)), "payment_id": pid,
                        "agent": agent, "vendor": vendor, "amount_usd": format_usd(from_micro(micro)), "kind": "debit"})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(generate(args.root, args.payments, args.seed))
