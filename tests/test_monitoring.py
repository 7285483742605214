"""Monitor-alerts library: failure streaks in time order, reset by a success; low balances."""

from __future__ import annotations

from decimal import Decimal

from genesis_payments.jobs.monitoring import failure_streak_findings, failure_streaks, low_balance_findings
from genesis_payments.ledgers.frames import payment_events_frame
from tests.support.ledgers import at, event, write_ledger


def streaks(settings, lines):
    write_ledger(settings, "events", lines)
    frame = payment_events_frame(settings).frame
    return failure_streaks(frame), failure_streak_findings(frame, 5)


def payments(vendor, statuses, start=0):
    """One payment per status, each its own allowed lifecycle (§4): a capture follows an authorization,
    a failure may come first (an authorization refused before it was valid)."""
    groups = []
    for i, status in enumerate(statuses):
        pid, when = f"{vendor}-{start + i}", at(start + i)
        before = [event(pid, "authorized", when, vendor=vendor)] if status not in ("failed", "authorized") else []
        groups.append([*before, event(pid, status, when, vendor=vendor)])
    return groups


def outcomes(vendor, statuses, start=0):
    return [line for group in payments(vendor, statuses, start) for line in group]


def test_five_failures_then_a_success_do_not_alert(store, settings):
    current, findings = streaks(settings, outcomes("v", ["failed"] * 5 + ["captured"]))
    assert current == {"v": 0} and findings == []


def test_a_success_then_five_failures_alert(store, settings):
    _, findings = streaks(settings, outcomes("v", ["captured"] + ["failed"] * 5))
    assert findings == [{"kind": "failure_streak", "vendor": "v", "streak": 5}]


def test_time_order_wins_over_file_order(store, settings):
    # Payments written newest first: in time order the success came last, so the vendor has recovered.
    lines = [line for group in reversed(payments("v", ["failed"] * 6 + ["captured"])) for line in group]
    current, findings = streaks(settings, lines)
    assert current == {"v": 0} and findings == []
    lines = [line for group in reversed(payments("w", ["captured"] + ["failed"] * 6)) for line in group]
    assert streaks(settings, lines)[1] == [{"kind": "failure_streak", "vendor": "w", "streak": 6}]


def test_authorizations_and_cancellations_neither_extend_nor_reset_a_streak(store, settings):
    statuses = ["failed", "authorized", "failed", "cancelled", "failed", "settlement_pending", "failed", "failed"]
    current, findings = streaks(settings, outcomes("v", statuses))
    assert current == {"v": 5} and len(findings) == 1


def test_four_failures_stay_below_the_threshold_and_vendors_are_counted_apart(store, settings):
    lines = outcomes("a", ["failed"] * 4) + outcomes("b", ["failed"] * 5, start=10)
    current, findings = streaks(settings, lines)
    assert current == {"a": 4, "b": 5}
    assert [f["vendor"] for f in findings] == ["b"]


def test_an_event_the_state_machine_refuses_neither_extends_nor_resets_a_streak(store, settings):
    # §4: a `failed` after a capture, and a second `captured`, change nothing.
    lines = outcomes("v", ["captured"] + ["failed"] * 4)
    lines += [event("v-0", "failed", at(10), vendor="v"), event("v-0", "captured", at(11), vendor="v")]
    assert streaks(settings, lines)[0] == {"v": 4}


def test_low_balance_is_strictly_below_the_threshold():
    balances = {"rich": Decimal("50.000000"), "poor": Decimal("49.999999"), "empty": Decimal(0)}
    findings = low_balance_findings(balances, Decimal(50))
    assert [(f["agent"], f["balance_usd"]) for f in findings] == [("empty", "0.000000"), ("poor", "49.999999")]
