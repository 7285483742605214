"""Exact running totals: streaks in time order, stale and expired authorizations, closed payments.

The block-wise tally (the exporter's, incremental) is checked against the jobs' batch path over the
whole log (`payment_states.fold_frame`, `monitoring.failure_streaks`, `stale.stale_payment_findings`):
the same state machine, so the figures must agree whatever the blocks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.exporter.payment_tally import PaymentTally
from genesis_payments.ledgers.event_columns import read_event_block
from tests.support.exporter import payment_event
from tests.support.jobs_view import JobsView

MINUTE = 60 * 1_000_000
T0 = 1_795_662_000_000_000  # 2026-11-26T03:00:00Z in µs


def at(minutes: int) -> str:
    return f"2026-11-26T03:{minutes:02d}:00.000000+00:00"


@pytest.fixture(params=["exporter, block-wise", "jobs, batch"], autouse=True)
def path(request: pytest.FixtureRequest) -> str:
    """Every test runs on the tally and on the jobs' batch path (the rules hold for both)."""
    global TALLY
    TALLY = PaymentTally if request.param.startswith("exporter") else JobsView
    return request.param


TALLY: type = PaymentTally


def tally_of(*batches: list[dict], stale_after: int = 900) -> PaymentTally:
    tally = TALLY(stale_after)
    line = 1
    for batch in batches:
        data = b"".join(json.dumps(e).encode() + b"\n" for e in batch)
        read = read_event_block(data, line, Path("t.jsonl"))
        assert not read.bad_lines
        for table in read.tables:
            tally.add(table)
        line += len(batch)
    return tally


def paid(event_id: str, payment_id: str, ts: str, **fields) -> list[dict]:
    """A one-shot payment (§4: `authorized`, then `captured`), both at `ts`."""
    return [payment_event(f"{event_id}-a", payment_id, "authorized", ts, **fields),
            payment_event(event_id, payment_id, "captured", ts, **fields)]


def test_streak_counts_failed_outcomes_after_the_latest_success_in_time_order() -> None:
    e = payment_event
    events = [e(f"f{i}", f"p{i}", "failed", at(10 + i)) for i in range(5)]
    events += paid("ok", "q", at(12))  # written last, happened in the middle
    assert tally_of(events).failure_streaks() == {"vendor-x": 2}


def test_streak_is_the_same_whatever_the_batches() -> None:
    e = payment_event
    events = [*paid("a", "p1", at(1)), e("b", "p2", "failed", at(3)), e("c", "p3", "failed", at(2)),
              *paid("d", "p4", at(2)), e("f", "p5", "failed", at(4))]
    whole = tally_of(events).failure_streaks()
    assert whole == {"vendor-x": 2}
    for cut in range(1, len(events)):
        assert tally_of(events[:cut], events[cut:]).failure_streaks() == whole


def test_authorizations_neither_extend_nor_reset_a_streak() -> None:
    e = payment_event
    events = []
    for i in range(6):
        events += [e(f"a{i}", f"p{i}", "authorized", at(2 * i)), e(f"f{i}", f"p{i}", "failed", at(2 * i + 1))]
    assert tally_of(events).failure_streaks() == {"vendor-x": 6}


def test_a_success_at_the_same_time_written_later_resets_the_streak() -> None:
    e = payment_event
    assert tally_of([e("f", "p1", "failed", at(5)), *paid("s", "p2", at(5))]).failure_streaks() == {
        "vendor-x": 0}
    assert tally_of([*paid("s", "p2", at(5)), e("f", "p1", "failed", at(5))]).failure_streaks() == {
        "vendor-x": 1}


def test_stale_counts_old_and_expired_open_payments_only() -> None:
    e = payment_event
    tally = tally_of([
        e("1", "old", "authorized", at(0)),
        e("2", "young", "authorized", at(50)),
        e("3", "expired", "authorized", at(55), valid_before=at(58)),
        e("4a", "pending", "authorized", at(0)), e("4", "pending", "settlement_pending", at(40)),
        e("5", "done", "authorized", at(0)), e("6", "done", "captured", at(1)),
    ])
    assert tally.stale_by_agent(T0 + 60 * MINUTE) == {"agent-a": 3}


def test_a_stale_payment_stops_counting_when_it_moves_on() -> None:
    e = payment_event
    tally = tally_of([e("1", "p", "authorized", at(0))])
    assert tally.stale_by_agent(T0 + 16 * MINUTE) == {"agent-a": 1}
    tally.add(read_event_block((json.dumps(e("2", "p", "captured", at(20))) + "\n").encode(), 2, Path("t")).tables[0])
    assert tally.stale_by_agent(T0 + 30 * MINUTE) == {"agent-a": 0}


def test_exactly_at_the_threshold_is_not_yet_stale() -> None:
    tally = tally_of([payment_event("1", "p", "authorized", at(0))])
    assert tally.stale_by_agent(T0 + 15 * MINUTE) == {"agent-a": 0}
    assert tally.stale_by_agent(T0 + 15 * MINUTE + 1) == {"agent-a": 1}


def test_a_terminal_payment_is_not_reopened_by_a_late_event() -> None:
    e = payment_event
    tally = tally_of(paid("2", "p", at(5)), [e("1", "p", "authorized", at(0))])
    assert tally.stale_by_agent(T0 + 60 * MINUTE) == {"agent-a": 0}


def test_an_event_the_state_machine_refuses_is_neither_spend_nor_a_failure() -> None:
    e = payment_event
    events = [*paid("1", "p", at(1), amount_usd="2"), e("2", "p", "captured", at(2), amount_usd="5"),
              e("3", "p", "failed", at(3)), e("4", "q", "captured", at(4), amount_usd="7")]
    tally = tally_of(events)
    assert tally.spend_micro == {("agent-a", "vendor-x"): 2_000_000}
    assert tally.failure_streaks() == {"vendor-x": 0}


def summary(tally: PaymentTally, now_us: int) -> tuple:
    return (tally.counts, tally.spend_micro, tally.failure_streaks(), tally.stale_by_agent(now_us), tally.events,
            tally.last_event_us)


@pytest.mark.parametrize("seed", range(8))
def test_random_logs_give_the_same_figures_whatever_the_path_and_the_batches(seed: int) -> None:
    rng = random.Random(seed)
    statuses = ["authorized", "captured", "failed", "cancelled", "expired", "settlement_pending"]
    events = []
    for i in range(300):
        extra = {"valid_before": at(rng.randrange(0, 60))} if rng.random() < 0.3 else {}
        events.append(payment_event(
            f"e{i}", f"p{rng.randrange(120)}", rng.choice(statuses), at(rng.randrange(0, 60)),
            agent=rng.choice(["a1", "a2"]), vendor=rng.choice(["v1", "v2", "v3"]),
            amount_usd=f"{rng.randrange(1, 10**7)}.{rng.randrange(10**6):06d}", **extra))
    cuts = sorted(rng.sample(range(1, 300), 4))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, 300], strict=True)]
    now = T0 + 61 * MINUTE
    reference = summary(tally_of(events), now)
    global TALLY
    for kind in (PaymentTally, JobsView):
        TALLY = kind
        assert summary(tally_of(*batches), now) == reference


def events_table(rows: list[dict]) -> pa.Table:
    from genesis_payments.ledgers.event_columns import EVENT_SCHEMA

    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


STATUSES = ["authorized", "captured", "failed", "cancelled", "expired", "settlement_pending"]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_block_wise_tally_equals_the_jobs_batch_path_on_random_orders(data: st.DataObject) -> None:
    """Random events in random file order (late-written earlier events, ties, terminal events before
    open ones), cut into random blocks, read at increasing times: the same figures as the jobs'."""
    n = data.draw(st.integers(1, 120))
    ts = data.draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    rows = [{
        "line": i + 1, "ts_us": T0 + ts[i] * MINUTE,
        "status": data.draw(st.sampled_from(STATUSES)),
        "amount_micro": data.draw(st.integers(0, 10**15)),
        "valid_before_us": data.draw(st.none() | st.integers(0, 40).map(lambda m: T0 + m * MINUTE)),
        "agent": data.draw(st.sampled_from(["a1", "a2", "a3"])),
        "vendor": data.draw(st.sampled_from(["v1", "v2", "payments:deploy:vercel"])),
        "chain": data.draw(st.sampled_from(["eip155:8453", "eip155:84532"])),
        "payment_id": f"p{data.draw(st.integers(0, 25))}",
    } for i in range(n)]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=4))) - {n})
    tally, reference = PaymentTally(300), JobsView(300)
    now = T0
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        tally.add(events_table(rows[a:b]))
        reference.add(events_table(rows[a:b]))
        now += data.draw(st.integers(0, 20)) * MINUTE
        assert summary(tally, now) == summary(reference, now)


def test_spend_sums_exactly_where_an_int64_sum_would_overflow() -> None:
    big = 10**15  # 1e9 USDC, the largest amount; 10,000 of them overflow int64
    rows = [{"line": 2 * i + k + 1, "ts_us": T0 + i, "status": status, "amount_micro": big, "valid_before_us": None,
             "agent": "a", "vendor": "v", "chain": "eip155:8453", "payment_id": f"p{i}"}
            for i in range(10_000) for k, status in enumerate(("authorized", "captured"))]
    tally = PaymentTally(900)
    tally.add(events_table(rows))
    assert tally.spend_micro == {("a", "v"): 10_000 * big}


def test_payment_ids_keep_one_code_per_id_across_blocks() -> None:
    from genesis_payments.ledgers.payment_ids import PaymentIds

    rng = random.Random(3)
    ids, expected = PaymentIds(), {}
    for _ in range(150):
        batch = list({f"pay-{rng.randrange(2000)}" * rng.choice([1, 3]) for _ in range(rng.randrange(1, 200))})
        sliced = pa.array(["x", *batch]).slice(1)  # an array with an offset into its buffers
        for pid in batch:
            expected.setdefault(pid, len(expected))
        assert ids.encode(sliced).tolist() == [expected[p] for p in batch]
    assert len(ids) == len(expected) and ids.ids == list(expected)


@pytest.mark.parametrize("sizes", [(3, 4, 2, 5), (70_000,) * 4, (1 << 20,) * 4])
def test_groups_are_the_distinct_rows_and_their_counts_by_counting_sorting_or_rows(sizes) -> None:
    # Few combinations are counted densely, more are sorted as one int64, and more than int64 can
    # hold are sorted row by row: the three give the same groups.
    from collections import Counter

    from genesis_payments.exporter.payment_tally import _groups

    rng = np.random.default_rng(7)
    codes = [rng.integers(0, min(size, 3), 500) * (size // 3 if size > 3 else 1) for size in sizes]
    columns, counts = _groups(codes, list(sizes))
    got = {tuple(int(c[k]) for c in columns): int(counts[k]) for k in range(len(counts))}
    assert got == dict(Counter(zip(*(c.tolist() for c in codes), strict=True)))
