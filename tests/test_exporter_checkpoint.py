"""The exporter's warm start: restarted from its checkpoint and the lines appended since, every scrape
shows exactly the samples of an exporter that read the whole file."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.records import PAYMENT_STATUSES
from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import READER, PaymentsCollector
from genesis_payments.ledgers import checkpoints
from genesis_payments.ledgers.checkpoints import checkpoint_path
from tests.support.checkpoint_crash import killed_while_writing_checkpoint
from tests.support.ledgers import T0, at, event


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(minutes=30)

    def __call__(self):
        return self.now


def samples(collector: PaymentsCollector) -> dict:
    found = {}
    for family in collector.collect():
        for sample in family.samples:
            if sample.name != "genesis_exporter_collect_duration_seconds":
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def collector_on(config: Settings, clock: Clock, **kwargs) -> PaymentsCollector:
    collector = PaymentsCollector(config, balance_source=lambda: {}, clock=clock, **kwargs)
    collector.checkpoint_in_background = False  # so each step sees the checkpoint the one before wrote
    return collector


def random_log(rng: random.Random) -> bytes:
    lines = []
    for i in range(rng.randrange(1, 50)):
        extra = {"valid_before": at(rng.randrange(0, 70))} if rng.random() < 0.3 else {}
        record = event(f"p{rng.randrange(10)}", rng.choice(PAYMENT_STATUSES), at(rng.randrange(0, 60)),
                       rng.choice(["1.5", "10", "0.000001"]), agent=rng.choice(["a1", "a2"]),
                       vendor=rng.choice(["v1", "v2"]), **extra)
        roll = rng.random()
        if roll < 0.08:
            lines.append(b"{not json\n")
        elif roll < 0.12:
            lines.append((json.dumps({**record, "amount_usd": "-1"}) + "\n").encode())
        else:
            lines.append((json.dumps({**record, "event_id": f"e{i}"}) + "\n").encode())
    return b"".join(lines)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.floats(0, 1), max_size=6))
def test_restarts_from_the_checkpoint_scrape_what_a_full_read_scrapes(tmp_path_factory, seed: int, cuts) -> None:
    """A random log (bad lines, invalid transitions) appended in pieces cut anywhere (torn last lines),
    an exporter restarted after each piece; sometimes one that keeps running is scraped too."""
    rng = random.Random(seed)
    data = random_log(rng)
    config = Settings(root=tmp_path_factory.mktemp("exporter-runs"))
    path = config.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    clock, written = Clock(), 0
    running = collector_on(config, clock)
    running.checkpoint_every = 10**9
    for point in sorted({int(c * len(data)) for c in cuts} | {len(data)}):
        with open(path, "ab") as handle:
            handle.write(data[written:point])
        written = point
        clock.now += timedelta(minutes=rng.randrange(0, 10))
        restarted = collector_on(config, clock)
        restarted.checkpoint_every = rng.choice([1, 5, 10**9])
        saved = checkpoint_path(config.state_dir, READER).exists()
        full = samples(collector_on(config, clock, full=True))
        assert samples(restarted) == full
        assert restarted.start_report["scan"] == ("incremental" if saved else "full")
        if rng.random() < 0.5:
            assert samples(running) == full


def test_a_restart_reads_only_what_was_appended(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event("p", "authorized", at(0))) + "\n")
    clock = Clock()
    first = collector_on(settings, clock)
    first.checkpoint_every, first.checkpoint_in_background = 1, True  # as the exporter writes it
    samples(first)
    first.wait_for_checkpoint()
    assert checkpoint_path(settings.state_dir, READER).exists()
    assert first.start_report == {"scan": "full", "rescan_reason": None, "from_line": 0}
    with open(path, "a") as handle:
        handle.write(json.dumps(event("p", "captured", at(1))) + "\n")
    second = collector_on(settings, clock)
    got = samples(second)
    assert second.start_report == {"scan": "incremental", "rescan_reason": None, "from_line": 1}
    assert got == samples(collector_on(settings, clock, full=True))


def test_a_changed_file_or_a_bad_checkpoint_is_noticed_and_rescanned(settings, monkeypatch) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event(f"p{i}", "authorized", at(i))) + "\n" for i in range(3)]
    path.write_text("".join(lines))
    clock = Clock()

    def restart(why: str) -> None:
        saver = collector_on(settings, clock, full=True)
        saver.checkpoint_every = 1
        samples(saver)
        saver.save_checkpoint()
        return why

    def check(why: str) -> None:
        restarted = collector_on(settings, clock)
        assert samples(restarted) == samples(collector_on(settings, clock, full=True))
        assert restarted.start_report["scan"] == "full" and why in restarted.start_report["rescan_reason"]

    restart("")
    path.write_text(lines[0])
    check("truncated")
    restart("")
    replacement = path.with_suffix(".new")
    replacement.write_text(lines[0])
    replacement.replace(path)
    check("replaced")
    restart("")
    path.write_text(json.dumps(event("p0", "authorized", at(0), "11")) + "\n")  # same length, other bytes
    check("rewritten")
    restart("")
    checkpoint_path(settings.state_dir, READER).write_bytes(b"\x00" * 10)
    check("cannot be read")
    restart("")
    monkeypatch.setattr(checkpoints, "VERSION", checkpoints.VERSION + 1)
    check("another version")


def test_two_exporters_on_one_root_leave_a_checkpoint_that_is_still_true(settings) -> None:
    """Each checkpoint names the prefix its tally read; whichever rename comes last wins, and a
    restart from it (even the older one) scrapes what a full read scrapes."""
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    first, second = collector_on(settings, clock), collector_on(settings, clock)
    for i in range(6):
        with open(path, "a") as handle:
            handle.write(json.dumps(event(f"p{i}", "authorized", at(i))) + "\n")
        samples(first if i % 2 else second)
    samples(first)
    first.save_checkpoint()  # read everything
    with open(path, "a") as handle:
        handle.write(json.dumps(event("p0", "captured", at(9))) + "\n")
    second.save_checkpoint()  # later, but from an older read: still true of the lines it read
    restarted = collector_on(settings, clock)
    assert samples(restarted) == samples(collector_on(settings, clock, full=True))
    assert restarted.start_report["scan"] == "incremental"


def test_an_exporter_killed_while_writing_its_checkpoint_leaves_the_previous_one(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event(f"p{i}", "authorized", at(i))) + "\n" for i in range(2)))
    clock = Clock()
    first = collector_on(settings, clock)
    samples(first)
    first.save_checkpoint()
    where = checkpoint_path(settings.state_dir, READER)
    before = where.read_bytes()
    with open(path, "a") as handle:
        handle.write(json.dumps(event("p0", "captured", at(3))) + "\n")
    script = f"""
import pathlib
from datetime import datetime
from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import PaymentsCollector
now = datetime.fromisoformat({clock.now.isoformat()!r})
collector = PaymentsCollector(Settings(root=pathlib.Path({str(settings.root)!r})), balance_source=lambda: {{}},
                              clock=lambda: now)
list(collector.collect())
collector.save_checkpoint()
"""
    killed_while_writing_checkpoint(script, where.parent / "writing")
    assert where.read_bytes() == before
    restarted = collector_on(settings, clock)
    assert samples(restarted) == samples(collector_on(settings, clock, full=True))
    assert restarted.start_report == {"scan": "incremental", "rescan_reason": None, "from_line": 2}
