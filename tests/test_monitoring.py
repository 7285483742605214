"""Monitor-alerts library: failure streaks in time order, reset by a success; low balances."""

from __future__ import annotations

from decimal import Decimal

from genesis_payments.jobs.monitoring import failure_streak_findings, failure_streaks, low_balance_findings
from genesis_payments.ledgers.frames import read_payment_events_frame
from tests.support.ledgers import at, event, write_lines


def streaks(settings, lines):
    write_lines(settings.transactions_path, lines)
    frame = read_payment_events_frame(settings.transactions_path).frame
    return failure_streaks(frame), failure_streak_findings(frame, 5)


def outcomes(vendor, statuses, start=0):
    return [event(f"{vendor}-{start + i}", s, at(start + i), vendor=vendor) for i, s in enumerate(statuses)]


def test_five_failures_then_a_success_do_not_alert(settings):
    current, findings = streaks(settings, outcomes("v", ["failed"] * 5 + ["captured"]))
    assert current == {"v": 0} and findings == []


def test_a_success_then_five_failures_alert(settings):
    _, findings = streaks(settings, outcomes("v", ["captured"] + ["failed"] * 5))
    assert findings == [{"kind": "failure_streak", "vendor": "v", "streak": 5}]


def test_time_order_wins_over_file_order(settings):
    # Written newest first: in time order the success came last, so the vendor has recovered.
    lines = list(reversed(outcomes("v", ["failed"] * 6 + ["captured"])))
    current, findings = streaks(settings, lines)
    assert current == {"v": 0} and findings == []
    lines = list(reversed(outcomes("w", ["captured"] + ["failed"] * 6)))
    assert streaks(settings, lines)[1] == [{"kind": "failure_streak", "vendor": "w", "streak": 6}]


def test_authorizations_and_cancellations_neither_extend_nor_reset_a_streak(settings):
    statuses = ["failed", "authorized", "failed", "cancelled", "failed", "settlement_pending", "failed", "failed"]
    current, findings = streaks(settings, outcomes("v", statuses))
    assert current == {"v": 5} and len(findings) == 1


def test_four_failures_stay_below_the_threshold_and_vendors_are_counted_apart(settings):
    lines = outcomes("a", ["failed"] * 4) + outcomes("b", ["failed"] * 5, start=10)
    current, findings = streaks(settings, lines)
    assert current == {"a": 4, "b": 5}
    assert [f["vendor"] for f in findings] == ["b"]


def test_low_balance_is_strictly_below_the_threshold():
    balances = {"rich": Decimal("50.000000"), "poor": Decimal("49.999999"), "empty": Decimal(0)}
    findings = low_balance_findings(balances, Decimal(50))
    assert [(f["agent"], f["balance_usd"]) for f in findings] == [("empty", "0.000000"), ("poor", "49.999999")]
