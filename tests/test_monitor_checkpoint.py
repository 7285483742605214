"""Monitor-alerts' reading of the transaction log from a checkpoint gives, run after run, exactly the
failure streaks, invalid transitions and bad lines of one full read of the file."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.monitor_checkpoint import READER, read_monitor_events
from genesis_payments.jobs.monitoring import failure_streak_findings
from genesis_payments.ledgers.checkpoints import checkpoint_path
from genesis_payments.ledgers.frames import read_payment_events_frame
from genesis_payments.ledgers.payment_states import fold_frame
from tests.support.ledgers import at, event
from tests.test_stale_checkpoint import random_ledger

THRESHOLD = 2


def same_as_full_read(config: Settings, run) -> None:
    read = read_payment_events_frame(config.transactions_path, columns=("payment_id", "vendor", "status", "ts",
                                                                         "line"))
    fold = fold_frame(read.frame)
    assert run.streak_findings(THRESHOLD) == failure_streak_findings(read.frame, THRESHOLD, fold=fold)
    assert run.invalid_transitions == (fold.findings() if not read.frame.empty else [])
    assert [(b.line, b.reason) for b in run.bad_lines] == [(b.line, b.reason) for b in read.bad_lines]


def vendors_failing(rng: random.Random) -> bytes:
    """The stale test's random ledger, with vendors and more outcomes, so streaks build and reset."""
    out = []
    for line in random_ledger(rng).splitlines(keepends=True):
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        record["vendor"] = rng.choice(["v1", "v2"])
        if rng.random() < 0.4:
            record["status"] = rng.choice(["failed", "captured", "failed"])
        out.append((json.dumps(record) + "\n").encode())
    return b"".join(out)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.floats(0, 1), max_size=5))
def test_runs_on_a_growing_file_give_what_one_full_read_gives(tmp_path_factory, seed: int, cuts) -> None:
    rng = random.Random(seed)
    data = vendors_failing(rng)
    config = Settings(root=tmp_path_factory.mktemp("monitor-runs"))
    path = config.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    for point in sorted({int(c * len(data)) for c in cuts} | {len(data)}):
        with open(path, "ab") as handle:
            handle.write(data[written:point])
        written = point
        saved = checkpoint_path(config.state_dir, READER).exists()
        run = read_monitor_events(config)
        assert run.scan == ("incremental" if saved else "full")
        same_as_full_read(config, run)
    assert read_monitor_events(config).lines_read == 0


def test_a_replaced_file_is_noticed_and_read_again(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event(f"p{i}", "failed", at(i), vendor="v")) + "\n" for i in range(3)))
    assert read_monitor_events(settings).streaks == {"v": 3}
    replacement = path.with_suffix(".new")
    replacement.write_text("".join(json.dumps(event("p0", status, at(0), vendor="v")) + "\n"
                                   for status in ("authorized", "captured")))
    replacement.replace(path)
    run = read_monitor_events(settings)
    assert run.scan == "full" and "replaced" in run.rescan_reason and run.streaks == {"v": 0}
    assert read_monitor_events(settings, full=True).rescan_reason == "a full rescan was asked for"


def test_a_truncated_file_or_a_corrupt_checkpoint_is_noticed_and_read_again(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event(f"p{i}", "failed", at(i), vendor="v")) + "\n" for i in range(3)]
    path.write_text("".join(lines))
    assert read_monitor_events(settings).streaks == {"v": 3}
    path.write_text(lines[0])  # the same file, cut short
    run = read_monitor_events(settings)
    assert run.scan == "full" and "truncated" in run.rescan_reason and run.streaks == {"v": 1}
    same_as_full_read(settings, run)
    where = checkpoint_path(settings.state_dir, READER)
    where.write_bytes(where.read_bytes()[:100])
    with open(path, "a") as handle:
        handle.write(lines[1])
    run = read_monitor_events(settings)
    assert run.scan == "full" and "cannot be read" in run.rescan_reason and run.streaks == {"v": 2}
    same_as_full_read(settings, run)
    assert read_monitor_events(settings).scan == "incremental"
