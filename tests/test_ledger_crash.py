"""Writers killed with SIGKILL at random moments: completed lines survive, only a torn tail is bad.

Twenty kills, alternating between a writer going through `log_payment` and one that writes each
line in two pieces (so the kill can land in the middle of a line, as a power cut or a kill during a
large write would). After every kill the file is read in full and incrementally; at the end more
appends must all be readable.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genesis_payments import BusinessMonitor
from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.jsonl import IncrementalReader, read_jsonl

WRITER = Path(__file__).parent / "support" / "ledger_writer.py"
sys.path.insert(0, str(WRITER.parent))
from ledger_writer import event  # noqa: E402

KILLS = 20


def _kill_writer_at_random(mode: str, proc: int, env: dict, rng: random.Random) -> list[int]:
    """Start a writer, let it append for a random moment, SIGKILL it; return the seqs it completed."""
    writer = subprocess.Popen([sys.executable, str(WRITER), mode, str(proc), "0"], env=env, stdout=subprocess.PIPE)
    assert writer.stdout is not None
    assert writer.stdout.readline() == b"ready\n"
    # Wait for one completed append (a loaded machine may be slow to start), then a random moment.
    first = writer.stdout.readline()
    time.sleep(rng.uniform(0.0, 0.05))
    writer.send_signal(signal.SIGKILL)
    rest = writer.stdout.read()  # the same buffered reader, so nothing readline() buffered is lost
    writer.stdout.close()
    assert writer.wait(timeout=30) == -signal.SIGKILL
    return [int(line) for line in (first + rest).split()]


@pytest.mark.slow
def test_sigkilled_writers_lose_no_completed_line_and_leave_at_most_a_torn_tail(settings):
    rng = random.Random(20261126)
    env = {**os.environ, "GENESIS_ROOT": str(settings.root)}
    path = settings.transactions_path
    follower = IncrementalReader(path, PaymentEvent)
    followed_records: list[PaymentEvent] = []
    followed_bad = []
    torn_tails = 0

    for proc in range(KILLS):
        mode = "torn" if proc % 2 else "log"
        completed = _kill_writer_at_random(mode, proc, env, rng)

        result = read_jsonl(path, PaymentEvent)
        mine = [r.model_extra["seq"] for r in result.records if r.model_extra["proc"] == proc]
        # Every append that returned is on disk, in order; at most one more (killed after the fsync,
        # before it could report) is there too.
        assert mine[: len(completed)] == completed
        assert len(mine) - len(completed) in (0, 1)
        assert mine == list(range(len(mine)))

        # Bad lines: earlier torn tails (now ended by the next append), plus perhaps this kill's tail.
        tail_now = bool(result.bad_lines) and "torn write" in result.bad_lines[-1].reason
        assert len(result.bad_lines) == torn_tails + tail_now
        assert all(b.reason.startswith("invalid JSON") for b in result.bad_lines[:torn_tails])
        torn_tails += tail_now

        new, reset = follower.read_new()
        assert not reset
        followed_records += new.records
        followed_bad += new.bad_lines
        assert [r.event_id for r in followed_records] == [r.event_id for r in result.records]

    # Later appends all land on fresh lines and read back.
    monitor = BusinessMonitor(settings)
    for seq in range(50):
        monitor.log_payment(event(KILLS, seq))
    final = read_jsonl(path, PaymentEvent)
    assert [r.model_extra["seq"] for r in final.records if r.model_extra["proc"] == KILLS] == list(range(50))
    assert len(final.bad_lines) == torn_tails
    assert all(b.reason.startswith("invalid JSON") for b in final.bad_lines)
    new, reset = follower.read_new()
    assert not reset
    assert [r.event_id for r in followed_records + new.records] == [r.event_id for r in final.records]
    assert [b.line for b in followed_bad + new.bad_lines] == [b.line for b in final.bad_lines]
    # The torn writer really tore lines, so the recovery path was exercised.
    assert torn_tails >= 1
