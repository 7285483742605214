"""Ledger-sync from a checkpoint gives, run after run, exactly what a full run over both ledgers gives."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.records import PAYMENT_STATUSES
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.ledger_sync_checkpoint import run_ledger_sync
from genesis_payments.jobs.reconciliation import ENTRY_COLUMNS_NEEDED, EVENT_COLUMNS_NEEDED, reconcile
from genesis_payments.ledgers.frames import read_finance_entries_frame, read_payment_events_frame
from tests.support.ledgers import T0, at, entry, event


def full_run(config: Settings, now):
    events = read_payment_events_frame(config.transactions_path, columns=EVENT_COLUMNS_NEEDED)
    entries = read_finance_entries_frame(config.finance_ledger_path, columns=ENTRY_COLUMNS_NEEDED)
    result = reconcile(events.frame, entries.frame, now=now, grace_seconds=config.ledger_sync_grace_seconds)
    return result, [(b.file, b.line, b.reason) for b in events.bad_lines + entries.bad_lines]


def assert_same(config: Settings, now, run) -> None:
    result, bad = full_run(config, now)
    assert run.result.findings == result.findings
    assert run.result.counts == result.counts
    assert run.result.checked == result.checked
    assert run.result.invalid_transitions == result.invalid_transitions
    assert [(b.file, b.line, b.reason) for b in run.bad_lines] == bad


def lines_of(rng: random.Random) -> tuple[bytes, bytes]:
    events, entries = [], []
    for i in range(rng.randrange(1, 40)):
        pid = f"p{rng.randrange(10)}"
        roll = rng.random()
        if roll < 0.55:
            events.append(json.dumps({**event(pid, rng.choice(PAYMENT_STATUSES), at(rng.randrange(0, 60)),
                                              rng.choice(["10", "5"])), "event_id": f"e{i}"}))
        elif roll < 0.9:
            entries.append(json.dumps(entry(pid, rng.choice(["10", "5"]), at(rng.randrange(0, 60)),
                                            kind=rng.choice(["debit", "debit", "refund"]), n=i)))
        else:
            (events if rng.random() < 0.5 else entries).append("{bad")
    return ("".join(line + "\n" for line in events).encode(), "".join(line + "\n" for line in entries).encode())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5))
def test_runs_on_growing_ledgers_give_what_one_full_run_gives(tmp_path_factory, seed: int, cuts) -> None:
    rng = random.Random(seed)
    data = lines_of(rng)
    config = Settings(root=tmp_path_factory.mktemp("sync-runs"))
    paths = (config.transactions_path, config.finance_ledger_path)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    points = [*sorted((int(a * len(data[0])), int(b * len(data[1]))) for a, b in cuts), tuple(map(len, data))]
    written = [0, 0]
    now = T0 + timedelta(minutes=30)
    for point in points:
        for k in (0, 1):
            end = max(written[k], point[k])
            with open(paths[k], "ab") as handle:
                handle.write(data[k][written[k]:end])
            written[k] = end
        now += timedelta(minutes=rng.randrange(0, 20))  # some payments still within the grace period
        assert_same(config, now, run_ledger_sync(config, now))


def test_the_second_run_reads_only_the_new_lines(settings) -> None:
    settings.transactions_path.parent.mkdir(parents=True, exist_ok=True)
    settings.finance_ledger_path.parent.mkdir(parents=True, exist_ok=True)
    settings.transactions_path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n"
                                          + json.dumps(event("p", "captured", at(1))) + "\n")
    now = T0 + timedelta(hours=2)
    first = run_ledger_sync(settings, now)
    assert (first.scan, first.lines_read) == ("full", 2)
    assert [f["kind"] for f in first.result.findings] == ["missing_in_ledger"]
    settings.finance_ledger_path.write_text(json.dumps(entry("p", "10", at(2))) + "\n")
    second = run_ledger_sync(settings, now)
    assert (second.scan, second.lines_read) == ("incremental", 1) and second.result.findings == []
    assert_same(settings, now, second)


def test_two_runs_at_once_leave_a_checkpoint_that_is_still_true(settings) -> None:
    """Two runs by hand at once (Prefect's concurrency limit is not there): each checkpoint names the
    prefix it read, the later rename wins, and a run that started first but saved last only makes
    the next run read a little more — never a wrong figure."""
    from genesis_payments.jobs.ledger_sync_checkpoint import save_ledger_sync_checkpoint

    settings.transactions_path.parent.mkdir(parents=True, exist_ok=True)
    settings.finance_ledger_path.parent.mkdir(parents=True, exist_ok=True)
    settings.transactions_path.write_text(json.dumps(event("p", "captured", at(0))) + "\n")
    now = T0 + timedelta(hours=2)
    slow = run_ledger_sync(settings, now, save=False)  # read, not saved yet
    with open(settings.finance_ledger_path, "a") as handle:
        handle.write(json.dumps(entry("p", "10", at(1))) + "\n")
    with open(settings.transactions_path, "a") as handle:
        handle.write(json.dumps(event("q", "captured", at(2))) + "\n")
    run_ledger_sync(settings, now)  # started later, saved first
    save_ledger_sync_checkpoint(settings, slow)  # the later writer: an older, still true checkpoint
    after = run_ledger_sync(settings, now)
    assert after.scan == "incremental" and after.lines_read == 2
    assert_same(settings, now, after)


def test_runs_in_two_threads_while_the_ledgers_grow_stay_exact(settings) -> None:
    import threading

    settings.transactions_path.parent.mkdir(parents=True, exist_ok=True)
    settings.finance_ledger_path.parent.mkdir(parents=True, exist_ok=True)
    now = T0 + timedelta(hours=2)
    stop, errors = threading.Event(), []

    def runs() -> None:
        try:
            while not stop.is_set():
                run_ledger_sync(settings, now)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=runs) for _ in range(2)]
    for worker in workers:
        worker.start()
    for i in range(60):
        with open(settings.transactions_path, "a") as handle:
            handle.write(json.dumps(event(f"p{i}", "captured", at(i % 50))) + "\n")
        with open(settings.finance_ledger_path, "a") as handle:
            handle.write(json.dumps(entry(f"p{i // 2}", "10", at(1), n=i)) + "\n")
    stop.set()
    for worker in workers:
        worker.join()
    assert errors == []
    assert_same(settings, now, run_ledger_sync(settings, now))
