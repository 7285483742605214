"""Many processes appending through `log_payment` to one ledger: every line whole, none lost or mixed
(the file of §2 under flock, or PostgreSQL's table under its advisory lock: seq order is file order)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.sources import payment_events

WRITER = Path(__file__).parent / "support" / "ledger_writer.py"
PROCESSES = 8
CALLS = 2_000


@pytest.mark.slow
def test_eight_processes_of_log_payment_calls_give_whole_lines_none_lost_or_mixed(store, settings):
    assert settings.fsync, "the default must be durable appends"
    calls = CALLS if store == "files" else CALLS // 4  # each a committed transaction: the same proof, less time
    env = {**os.environ, "GENESIS_ROOT": str(settings.root)}
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "log", str(proc), str(calls)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for proc in range(PROCESSES)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()

    if store == "files":
        data = settings.transactions_path.read_bytes()
        assert data.endswith(b"\n")
        lines = data.split(b"\n")[:-1]
    else:
        lines = [line.encode() for line in payment_events(settings).lines()]
    assert len(lines) == PROCESSES * calls

    # Each line is exactly one of the events written: valid JSON, valid record, known (proc, seq).
    seen: dict[tuple[int, int], int] = {}
    for number, raw in enumerate(lines, start=1):
        obj = json.loads(raw)
        record = PaymentEvent.model_validate(obj)
        key = (obj["proc"], obj["seq"])
        assert record.event_id == f"e-{key[0]}-{key[1]}" and record.payment_id == f"p-{key[0]}-{key[1]}"
        assert key not in seen, f"line {number} repeats {key} of line {seen[key]}"
        seen[key] = number
    assert set(seen) == {(p, s) for p in range(PROCESSES) for s in range(calls)}

    # Each writer's own appends keep their order (one lock per append, nothing reordered).
    for proc in range(PROCESSES):
        order = [seen[(proc, s)] for s in range(calls)]
        assert order == sorted(order)

    result = payment_events(settings).read_records()
    assert result.bad_lines == [] and len(result.records) == PROCESSES * calls
