"""Stale-payments from a checkpoint gives, run after run, exactly what a full rescan of the file gives."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.records import PAYMENT_STATUSES
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.stale import stale_payment_findings
from genesis_payments.jobs.stale_checkpoint import READER, run_stale_payments
from genesis_payments.ledgers import checkpoints
from genesis_payments.ledgers.checkpoints import checkpoint_path
from genesis_payments.ledgers.frames import read_payment_events_frame
from genesis_payments.ledgers.payment_states import fold_frame
from tests.support.ledgers import T0, at, event

NOW = T0 + timedelta(minutes=60)


def full_scan(settings: Settings, now):
    read = read_payment_events_frame(settings.transactions_path)
    findings = stale_payment_findings(read.frame, now=now, stale_after_seconds=settings.stale_after_seconds)
    invalid = fold_frame(read.frame).findings() if not read.frame.empty else []
    return findings, invalid, [(b.line, b.reason) for b in read.bad_lines]


def same_as_full_scan(settings: Settings, now, run) -> None:
    findings, invalid, bad = full_scan(settings, now)
    assert run.findings == findings
    assert run.invalid_transitions == invalid
    assert [(b.line, b.reason) for b in run.bad_lines] == bad


def random_ledger(rng: random.Random) -> bytes:
    lines = []
    for i in range(rng.randrange(1, 40)):
        extra = {"valid_before": at(rng.randrange(0, 70))} if rng.random() < 0.3 else {}
        line = event(f"p{rng.randrange(8)}", rng.choice(PAYMENT_STATUSES), at(rng.randrange(0, 60)),
                     f"{rng.randrange(1, 50)}.5", agent=rng.choice(["a1", "a2"]), **extra)
        roll = rng.random()
        if roll < 0.1:
            lines.append(b"not json\n")
        elif roll < 0.15:
            lines.append((json.dumps({**line, "amount_usd": "-1"}) + "\n").encode())
        else:
            lines.append((json.dumps({**line, "event_id": f"e{i}"}) + "\n").encode())
    return b"".join(lines)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.floats(0, 1), max_size=5))
def test_runs_on_a_growing_file_give_what_one_full_scan_gives(tmp_path_factory, seed: int, cuts) -> None:
    """A random ledger (bad lines, invalid transitions) appended in random pieces — cut anywhere, so
    a run may see a torn last line — and a run after each piece, at later and later times."""
    rng = random.Random(seed)
    data = random_ledger(rng)
    config = Settings(root=tmp_path_factory.mktemp("stale-runs"))
    path = config.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    points = sorted({int(c * len(data)) for c in cuts} | {len(data)})
    written, now = 0, NOW
    for point in points:
        with open(path, "ab") as handle:
            handle.write(data[written:point])
        written = point
        now += timedelta(minutes=rng.randrange(0, 5))
        run = run_stale_payments(config, now)
        same_as_full_scan(config, now, run)
    assert run_stale_payments(config, now).lines_read == 0  # nothing new: nothing read


def test_the_first_run_is_full_and_the_next_read_only_what_was_appended(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n")
    first = run_stale_payments(settings, NOW)
    assert (first.scan, first.lines_read) == ("full", 1)
    with open(path, "a") as handle:
        handle.write(json.dumps(event("q", "authorized", at(1))) + "\n")
    second = run_stale_payments(settings, NOW)
    assert (second.scan, second.lines_read) == ("incremental", 1)
    assert [f["payment_id"] for f in second.findings] == ["p", "q"]
    assert run_stale_payments(settings, NOW, full=True).scan == "full"


def test_a_truncated_replaced_or_corrupt_state_is_noticed_and_rescanned(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event(f"p{i}", "authorized", at(i))) + "\n" for i in range(3)]
    path.write_text("".join(lines))
    run_stale_payments(settings, NOW)
    path.write_text(lines[0])  # truncated
    run = run_stale_payments(settings, NOW)
    assert run.scan == "full" and "truncated" in run.rescan_reason
    same_as_full_scan(settings, NOW, run)
    replacement = path.with_suffix(".new")
    replacement.write_text(lines[0] + lines[1])
    replacement.replace(path)  # rotated: another file under the same name
    run = run_stale_payments(settings, NOW)
    assert run.scan == "full" and "replaced" in run.rescan_reason
    # Rewritten in place: same inode and length, other bytes just before the offset.
    path.write_text(lines[0] + json.dumps(event("p1", "authorized", at(1), "11")) + "\n")
    run = run_stale_payments(settings, NOW)
    assert run.scan == "full" and "rewritten" in run.rescan_reason
    same_as_full_scan(settings, NOW, run)
    checkpoint_path(settings.state_dir, READER).write_bytes(b"not an arrow file")
    run = run_stale_payments(settings, NOW)
    assert run.scan == "full" and "cannot be read" in run.rescan_reason
    same_as_full_scan(settings, NOW, run)


def test_a_checkpoint_of_another_version_is_not_used(settings, monkeypatch) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n")
    run_stale_payments(settings, NOW)
    monkeypatch.setattr(checkpoints, "VERSION", checkpoints.VERSION + 1)
    run = run_stale_payments(settings, NOW)
    assert run.scan == "full" and "another version" in run.rescan_reason


def test_a_run_that_fails_leaves_the_previous_checkpoint(settings, monkeypatch) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n")
    run_stale_payments(settings, NOW)
    where = checkpoint_path(settings.state_dir, READER)
    before = where.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("pyarrow.ipc.new_file", crash)
    with open(path, "a") as handle:
        handle.write(json.dumps(event("q", "authorized", at(1))) + "\n")
    from genesis_payments.core.errors import LedgerError

    with pytest.raises(LedgerError, match="disk full; the previous version"):
        run_stale_payments(settings, NOW)
    assert where.read_bytes() == before
    assert [p.name for p in where.parent.iterdir()] == [where.name]  # no temporary file left


def test_a_run_killed_while_writing_its_checkpoint_leaves_the_previous_one(settings) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n")
    run_stale_payments(settings, NOW)
    where = checkpoint_path(settings.state_dir, READER)
    before = where.read_bytes()
    with open(path, "a") as handle:
        handle.write(json.dumps(event("q", "authorized", at(1))) + "\n")
    started = where.parent / "writing"
    script = f"""
import time, pathlib, pyarrow.ipc as ipc
from datetime import datetime
real = ipc.RecordBatchFileWriter.write_table
def slow(self, table, *args, **kwargs):
    real(self, table, *args, **kwargs)
    pathlib.Path({str(started)!r}).touch()
    time.sleep(60)  # killed here: half a checkpoint on disk, in its temporary file
ipc.RecordBatchFileWriter.write_table = slow
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.stale_checkpoint import run_stale_payments
run_stale_payments(Settings(root=pathlib.Path({str(settings.root)!r})), datetime.fromisoformat({NOW.isoformat()!r}))
"""
    worktree = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-c", script], cwd=worktree,
                               env={**os.environ, "PYTHONPATH": str(worktree)})
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert where.read_bytes() == before
    run = run_stale_payments(settings, NOW)
    assert run.scan == "incremental" and run.lines_read == 1
    same_as_full_scan(settings, NOW, run)
