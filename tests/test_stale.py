"""Stale-payments library: stale and expired authorizations, stuck settlements, nothing else."""

from __future__ import annotations

from datetime import timedelta

from genesis_payments.jobs.stale import stale_payment_findings
from genesis_payments.ledgers.frames import payment_events_frame, read_payment_events_frame
from tests.support.ledgers import T0, at, event, write_ledger, write_lines

NOW = T0 + timedelta(minutes=60)


def findings(settings, lines, now=NOW):
    write_ledger(settings, "events", lines)
    frame = payment_events_frame(settings).frame
    return stale_payment_findings(frame, now=now, stale_after_seconds=900)


def test_each_kind_with_its_fields_and_nothing_for_settled_payments(store, settings):
    lines = [
        event("stale", "authorized", at(0), "3", valid_before=at(24 * 60)),
        event("expired", "authorized", at(0), "4", valid_before=at(30)),  # past valid_before: not also stale
        event("fresh", "authorized", at(50), valid_before=at(80)),
        event("pending", "authorized", at(0)), event("pending", "settlement_pending", at(40), "5"),
        event("pending-new", "authorized", at(0)), event("pending-new", "settlement_pending", at(50)),
        event("done", "authorized", at(0)), event("done", "captured", at(1)),
        event("gone", "authorized", at(0)), event("gone", "cancelled", at(1)),
        event("old-but-settled", "authorized", at(0)), event("old-but-settled", "settlement_pending", at(1)),
        event("old-but-settled", "captured", at(2)),
    ]
    result = findings(settings, lines)
    assert {f["payment_id"]: f["kind"] for f in result} == {
        "stale": "stale_authorization", "expired": "expired_authorization", "pending": "stale_settlement",
    }
    stale = next(f for f in result if f["payment_id"] == "stale")
    assert stale == {"kind": "stale_authorization", "payment_id": "stale", "agent": "agent-a", "vendor": "openai",
                     "amount_usd": "3.000000", "age_seconds": 3600}
    assert next(f for f in result if f["payment_id"] == "pending")["age_seconds"] == 20 * 60


def test_threshold_is_strictly_more_than_fifteen_minutes(store, settings):
    lines = [event("edge", "authorized", at(45)), event("over", "authorized", at(44.9))]
    assert [f["payment_id"] for f in findings(settings, lines)] == ["over"]


def test_the_state_is_what_the_allowed_transitions_reach_in_file_order(store, settings):
    # §4: a first `captured` is no allowed transition (it changes nothing), so the `authorized`
    # after it in the file leaves the payment open, and stale at an hour old — whatever the times say.
    lines = [event("p", "captured", at(1)), event("p", "authorized", at(0))]
    assert [(f["payment_id"], f["kind"], f["age_seconds"]) for f in findings(settings, lines)] == [
        ("p", "stale_authorization", 3600)]


def test_naive_timestamps_are_bad_lines_not_crashes(settings):
    write_lines(settings.transactions_path, [event("p", "authorized", "2026-11-26T03:00:00")])
    read = read_payment_events_frame(settings.transactions_path)
    assert read.frame.empty and "UTC offset" in read.bad_lines[0].reason
    assert stale_payment_findings(read.frame, now=NOW, stale_after_seconds=900) == []
