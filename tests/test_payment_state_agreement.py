"""Every job and the exporter agree about every payment (§4: one state machine).

The same ledgers — repeated `authorized`, events after a terminal state, out-of-order timestamps,
duplicate event ids, the issue's p1/p2 example — go to ledger-sync (`reconcile`), stale-payments,
monitor-alerts (failure streaks), weekly-report (spend), business-summary, the exporter (read in
blocks of every size, through its collector) and the buyer's event-by-event `PaymentStates`; the
test asserts they agree payment by payment.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from genesis_payments.core.money import from_micro, to_micro
from genesis_payments.core.records import PAYMENT_STATUSES, PaymentEvent
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.payment_tally import PaymentTally
from genesis_payments.jobs.monitoring import failure_streaks
from genesis_payments.jobs.reconciliation import reconcile
from genesis_payments.jobs.spend_summary import build_spend_summary
from genesis_payments.jobs.stale import stale_payment_findings
from genesis_payments.jobs.weekly import weekly_totals
from genesis_payments.ledgers.event_tail import EventLogTail
from genesis_payments.ledgers.frames import read_finance_entries_frame, read_payment_events_frame
from genesis_payments.ledgers.jsonl import read_jsonl
from genesis_payments.ledgers.payment_states import STALE_KINDS, fold_events, fold_frame
from tests.support.ledgers import T0, at, event, write_lines

NOW = T0 + timedelta(minutes=60)
STALE_AFTER = 900


def the_issues_example() -> list[dict]:
    """p1 authorized 20 and 10 minutes ago; p2 captured, then an `authorized` stamped later."""
    return [
        event("p1", "authorized", at(40)), event("p1", "authorized", at(50)),
        event("p2", "authorized", at(20)), event("p2", "captured", at(21)), event("p2", "authorized", at(55)),
    ]


def tricky_ledger() -> list[dict]:
    e = event
    lines = the_issues_example()
    lines += [
        e("late", "captured", at(5)), e("late", "authorized", at(1)),  # capture written before its authorization
        e("after", "authorized", at(0)), e("after", "cancelled", at(1)), e("after", "captured", at(2), "7"),
        e("pend", "authorized", at(0), vendor="v2"), e("pend", "settlement_pending", at(10), vendor="v2"),
        e("pend", "authorized", at(11), vendor="v2"),
        e("exp", "authorized", at(50), valid_before=at(55), agent="agent-b"),
        e("twice", "authorized", at(0)), e("twice", "captured", at(1), "3"), e("twice", "captured", at(2), "4"),
        e("f1", "failed", at(30), vendor="v2"), e("f2", "failed", at(31), vendor="v2"),
        e("f1", "failed", at(32), vendor="v2"),  # a failed payment cannot fail again
        e("ok", "authorized", at(29), vendor="v2"), e("ok", "captured", at(29.5), vendor="v2"),
        e("back", "authorized", at(45), vendor="v3"), e("back", "captured", at(44), vendor="v3", amount="2"),
    ]
    duplicate = dict(lines[-1])  # the same event id written twice: a second capture, refused
    lines.append(duplicate)
    return lines


def every_view(settings, lines: list[dict], block_bytes: int) -> dict[str, dict]:
    """Each job's and the exporter's view of each payment."""
    write_lines(settings.transactions_path, lines)
    write_lines(settings.finance_ledger_path, [])
    events = read_payment_events_frame(settings.transactions_path)
    entries = read_finance_entries_frame(settings.finance_ledger_path)
    frame = events.frame
    views: dict[str, dict] = {}

    # ledger-sync: with no debits at all, every captured payment is `missing_in_ledger`, for its amount.
    synced = reconcile(frame, entries.frame, now=NOW + timedelta(days=1), grace_seconds=600)
    views["captured"] = {
        "ledger-sync": {f["payment_id"]: f["amount_usd"] for f in synced.findings if f["kind"] == "missing_in_ledger"},
    }
    summary = build_spend_summary("biz", [PaymentEvent.model_validate({**line, "business_id": "biz"})
                                          for line in lines], [])
    views["spend"] = {
        "ledger-sync": sum((Decimal(a) for a in views["captured"]["ledger-sync"].values()), Decimal(0)),
        "business-summary": summary.total_spent_usd,
        "weekly-report": Decimal(weekly_totals(frame, _no_decisions(), now=T0 + timedelta(days=1),
                                               days=1)["spend_usd"]),
    }
    stale = stale_payment_findings(frame, now=NOW, stale_after_seconds=STALE_AFTER)
    views["stale"] = {"stale-payments": {f["payment_id"]: f["kind"] for f in stale}}
    views["stale_by_agent"] = {"stale-payments": dict(Counter(f["agent"] for f in stale))}
    views["streaks"] = {"monitor-alerts": failure_streaks(frame)}
    views["invalid"] = {"ledger-sync": synced.invalid_transitions, "stale-payments": fold_frame(frame).findings()}

    # The exporter: its tail and tally, read in blocks of `block_bytes`, and its collector's samples.
    tally = PaymentTally(STALE_AFTER)
    tail = EventLogTail(settings.transactions_path, block_bytes=block_bytes)
    tail.check()
    for block in tail.new_blocks():
        for table in block.tables:
            tally.add(table)
    codes, kinds = tally.stale_payments(_us(NOW))
    views["stale"]["exporter"] = {tally.payment_id(int(c)): STALE_KINDS[int(k)] for c, k in zip(codes, kinds,
                                                                                               strict=True)}
    views["invalid"]["exporter"] = [t.finding() for t in tally.invalid]
    views["streaks"]["exporter"] = tally.failure_streaks()
    views["spend"]["exporter"] = from_micro(sum(tally.spend_micro.values()))
    registry = CollectorRegistry()
    registry.register(PaymentsCollector(settings, balance_source=dict, clock=lambda: NOW))
    views["stale_by_agent"]["exporter"] = {
        agent: int(registry.get_sample_value("payment_stale_authorizations", {"agent": agent}) or 0)
        for agent in {line["agent"] for line in lines}}
    views["stale_by_agent"]["exporter"] = {a: n for a, n in views["stale_by_agent"]["exporter"].items() if n}

    # The buyer's event-by-event fold over the exact reader's records.
    states = fold_events(read_jsonl(settings.transactions_path, PaymentEvent).numbered())
    views["invalid"]["payment-states"] = [t.finding() for t in states.invalid]
    views["captured"]["payment-states"] = {
        pid: f"{s.last_event.amount_usd:.6f}" for pid, s in states.payments.items() if s.status == "captured"}
    return views


def _no_decisions() -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime([], utc=True), "decision": []})


def _us(moment) -> int:
    from genesis_payments.core.timestamps import epoch_us

    return epoch_us(moment)


def assert_agree(views: dict[str, dict]) -> None:
    for figure, by_reader in views.items():
        first_name, first = next(iter(by_reader.items()))
        for name, value in by_reader.items():
            assert value == first, f"{figure}: {name} says {value}, {first_name} says {first}"


@pytest.mark.parametrize("block_bytes", [64, 300, 1 << 20])
def test_every_job_and_the_exporter_agree_on_a_tricky_ledger(settings, block_bytes: int) -> None:
    views = every_view(settings, tricky_ledger(), block_bytes)
    assert_agree(views)
    # And what they agree on is §4's reading of it.
    assert views["stale"]["stale-payments"] == {
        "p1": "stale_authorization", "late": "stale_authorization", "pend": "stale_settlement",
        "exp": "expired_authorization"}
    assert views["captured"]["ledger-sync"] == {"p2": "10.000000", "twice": "3.000000", "ok": "10.000000",
                                                "back": "2.000000"}
    assert views["streaks"]["monitor-alerts"] == {"openai": 0, "v2": 2, "v3": 0}
    assert [(f["payment_id"], f["from"], f["to"]) for f in views["invalid"]["ledger-sync"]] == [
        ("p1", "authorized", "authorized"), ("p2", "captured", "authorized"), ("late", None, "captured"),
        ("after", "cancelled", "captured"), ("pend", "settlement_pending", "authorized"),
        ("twice", "captured", "captured"), ("f1", "failed", "failed"), ("back", "captured", "captured")]


def test_the_issues_example_is_one_stale_payment_for_the_job_and_the_gauge(settings) -> None:
    views = every_view(settings, the_issues_example(), 1 << 20)
    assert_agree(views)
    assert views["stale"]["stale-payments"] == {"p1": "stale_authorization"}
    assert views["stale_by_agent"]["exporter"] == {"agent-a": 1}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), block_bytes=st.sampled_from([200, 700, 1 << 20]))
def test_random_ledgers_give_one_view_of_every_payment(tmp_path_factory, seed: int, block_bytes: int) -> None:
    from genesis_payments.core.settings import Settings

    rng = random.Random(seed)
    lines = []
    for i in range(rng.randrange(1, 60)):
        extra = {"valid_before": at(rng.randrange(0, 70))} if rng.random() < 0.3 else {}
        line = event(f"p{rng.randrange(12)}", rng.choice(PAYMENT_STATUSES), at(rng.randrange(0, 60)),
                     f"{rng.randrange(1, 100)}.{rng.randrange(10**6):06d}", agent=rng.choice(["a1", "a2"]),
                     vendor=rng.choice(["v1", "v2"]), **extra)
        lines.append(dict(rng.choice(lines)) if lines and rng.random() < 0.1 else {**line, "event_id": f"e{i}"})
    root = tmp_path_factory.mktemp("agreement")
    assert_agree(every_view(Settings(root=root), lines, block_bytes))
    assert to_micro(Decimal("1")) == 1_000_000
