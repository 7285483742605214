"""Weekly-report from its per-day aggregates gives, run after run, exactly the totals, invalid
transitions and bad lines of a run over both whole logs."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.records import PAYMENT_STATUSES
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.weekly import decisions_frame, weekly_totals
from genesis_payments.jobs.weekly_checkpoint import READER, run_weekly
from genesis_payments.ledgers.approval_log import GENESIS_HASH, ApprovalLog, chained_line
from genesis_payments.ledgers.checkpoints import checkpoint_path
from genesis_payments.ledgers.frames import read_payment_events_frame
from genesis_payments.ledgers.payment_states import fold_frame
from tests.support.ledgers import T0, at, event

COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "line")
DAY = 24 * 60


def full_run(config: Settings, now):
    events = read_payment_events_frame(config.transactions_path, columns=COLUMNS)
    decisions = ApprovalLog(config).read()
    fold = fold_frame(events.frame)
    totals = weekly_totals(events.frame, decisions_frame(decisions.records), now=now, days=config.weekly_days,
                           fold=fold)
    invalid = fold.findings() if not events.frame.empty else []
    return totals, invalid, [(b.file, b.line, b.reason) for b in events.bad_lines + decisions.bad_lines]


def same_as_full_run(config: Settings, now, run) -> None:
    totals, invalid, bad = full_run(config, now)
    assert run.totals == totals
    assert run.invalid_transitions == invalid
    assert [(b.file, b.line, b.reason) for b in run.bad_lines] == bad


def random_logs(rng: random.Random) -> tuple[bytes, bytes]:
    events = []
    for i in range(rng.randrange(1, 40)):
        record = event(f"p{rng.randrange(10)}", rng.choice(PAYMENT_STATUSES), at(-rng.randrange(0, 20 * DAY)),
                       rng.choice(["1.5", "10"]), agent=rng.choice(["a1", "a2"]), vendor=rng.choice(["v1", "v2"]))
        line = (json.dumps({**record, "event_id": f"e{i}"}) + "\n").encode()
        events.append(b"{bad\n" if rng.random() < 0.08 else line)
    decisions, prev = [], GENESIS_HASH
    for i in range(rng.randrange(0, 15)):
        body = {"decision_id": f"d{i}", "ts": at(-rng.randrange(0, 20 * DAY)), "intent_id": f"i{i}", "agent": "a1",
                "vendor": "v1", "component": "c", "strategy": "s", "cost_usd": "1.000000", "business_id": "b",
                "chain": "eip155:8453", "token": "USDC",
                "decision": rng.choice(["approved", "denied", "pending_review"]), "reasons": [], "policy": "x",
                "prev_hash": prev}
        prev, line = chained_line(body)
        decisions.append(b'{"not": "a decision"}\n' if rng.random() < 0.1 else line)
    return b"".join(events), b"".join(decisions)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5))
def test_runs_on_growing_logs_give_what_one_full_run_gives(tmp_path_factory, seed: int, cuts) -> None:
    rng = random.Random(seed)
    data = random_logs(rng)
    config = Settings(root=tmp_path_factory.mktemp("weekly-runs"))
    paths = (config.transactions_path, config.approval_log_path)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    points = [*sorted((int(a * len(data[0])), int(b * len(data[1]))) for a, b in cuts), tuple(map(len, data))]
    written, now = [0, 0], T0
    for point in points:
        for k in (0, 1):
            end = max(written[k], point[k])
            with open(paths[k], "ab") as handle:
                handle.write(data[k][written[k]:end])
            written[k] = end
        now += timedelta(days=rng.randrange(0, 4))  # the windows move on between runs
        saved = checkpoint_path(config.state_dir, READER).exists()
        run = run_weekly(config, now)
        assert run.scan == ("incremental" if saved else "full")
        same_as_full_run(config, now, run)


def test_a_replaced_log_is_noticed_and_read_again(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event(f"p{i}", s, at(-DAY))) + "\n"
                            for i in range(2) for s in ("authorized", "captured")))
    assert run_weekly(settings, T0).totals["payments"] == 2
    replacement = path.with_suffix(".new")
    replacement.write_text(json.dumps(event("p0", "failed", at(-DAY))) + "\n")
    replacement.replace(path)
    run = run_weekly(settings, T0)
    assert run.scan == "full" and "replaced" in run.rescan_reason
    assert (run.totals["payments"], run.totals["failures"]) == (0, 1)
    same_as_full_run(settings, T0, run)


def test_a_truncated_log_or_a_corrupt_checkpoint_is_noticed_and_read_again(settings) -> None:
    path = settings.transactions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event(f"p{i}", s, at(-DAY))) + "\n" for i in range(3) for s in ("authorized", "captured")]
    path.write_text("".join(lines))
    assert run_weekly(settings, T0).totals["payments"] == 3
    path.write_text("".join(lines[:2]))  # the same file, cut short
    run = run_weekly(settings, T0)
    assert run.scan == "full" and "truncated" in run.rescan_reason and run.totals["payments"] == 1
    same_as_full_run(settings, T0, run)
    where = checkpoint_path(settings.state_dir, READER)
    where.write_bytes(b"\x00" * 10)
    with open(path, "a") as handle:
        handle.write("".join(lines[2:4]))
    run = run_weekly(settings, T0)
    assert run.scan == "full" and "cannot be read" in run.rescan_reason and run.totals["payments"] == 2
    same_as_full_run(settings, T0, run)
    assert run_weekly(settings, T0).scan == "incremental"
