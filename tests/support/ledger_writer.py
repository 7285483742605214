"""A writer process for the concurrency and crash tests: `python ledger_writer.py MODE PROC COUNT`.

Writes payment events for writer PROC (with `proc` and `seq` as extra fields, so a reader can tell
every (process, seq) pair apart) into `$GENESIS_ROOT`'s transactions file, printing each seq once
`log_payment` has returned — so the parent knows which appends completed before a kill.

Modes: `log` — COUNT calls of `BusinessMonitor.log_payment`; `torn` — the same lines, but each
written in two pieces under the lock with a pause between, so a kill can tear a line in the middle.
COUNT 0 means "until killed".
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from genesis_payments import BusinessMonitor, Settings
from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.jsonl import JsonlAppender, encode_line


def event(proc: int, seq: int) -> dict:
    return {
        "event_id": f"e-{proc}-{seq}", "ts": "2026-11-26T03:00:00.000000+00:00", "payment_id": f"p-{proc}-{seq}",
        "status": "authorized", "agent": f"agent-{proc}", "vendor": "api:search/serp", "chain": "eip155:8453",
        "token": "USDC", "amount_usd": f"{seq % 1000}.{seq % 1_000_000:06d}", "proc": proc, "seq": seq,
    }


def main() -> None:
    mode, proc, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = Settings()
    monitor = BusinessMonitor(settings)
    appender = JsonlAppender(settings.transactions_path)
    print("ready", flush=True)
    seqs = range(count) if count else itertools.count()
    for seq in seqs:
        if mode == "log":
            monitor.log_payment(event(proc, seq))
        else:
            line = encode_line(PaymentEvent.model_validate(event(proc, seq)))
            half = len(line) // 2
            with appender.locked() as handle:
                # The first half through the appender (which ends any torn line before it), the
                # rest through a second descriptor so nothing "repairs" the half line in between.
                handle.write(line[:half])
                fd = os.open(settings.transactions_path, os.O_WRONLY | os.O_APPEND)
                try:
                    time.sleep(0.002)
                    os.write(fd, line[half:])
                finally:
                    os.close(fd)
        print(seq, flush=True)


if __name__ == "__main__":
    main()
