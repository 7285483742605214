"""Ledger-sync reconciliation: crafted ledgers with a known set of problems give exactly those findings."""

from __future__ import annotations

from datetime import timedelta

from genesis_payments.jobs.reconciliation import (
    ENTRY_COLUMNS_NEEDED,
    EVENT_COLUMNS_NEEDED,
    LEDGER_SYNC_KINDS,
    reconcile,
)
from genesis_payments.ledgers.frames import finance_entries_frame, payment_events_frame
from tests.support.ledgers import T0, at, entry, event, write_ledger

NOW = T0 + timedelta(hours=2)
def run(settings, events, entries, grace_seconds=600):
    write_ledger(settings, "events", events)
    write_ledger(settings, "entries", entries)
    ev = payment_events_frame(settings, columns=EVENT_COLUMNS_NEEDED)
    en = finance_entries_frame(settings, columns=ENTRY_COLUMNS_NEEDED)
    return reconcile(ev.frame, en.frame, now=NOW, grace_seconds=grace_seconds), ev.bad_lines + en.bad_lines


def captured(pid, amount="10"):
    return [event(pid, "authorized", at(0), amount), event(pid, "captured", at(1), amount)]


def test_each_kind_once_and_clean_payments_give_nothing(store, settings):
    events = [
        *captured("ok-1"), *captured("ok-2", "0.000001"),
        *captured("no-debit"),
        *captured("dup", "5"),
        *captured("mismatch", "7.5"),
        event("never", "authorized", at(0)), event("never", "cancelled", at(2)),
        *captured("refunded", "10"),
    ]
    entries = [
        entry("ok-1"), entry("ok-2", "0.000001"),
        entry("dup", "5", n=1), entry("dup", "5", n=2),
        entry("mismatch", "7.500001"),
        entry("never", "3"),
        entry("ghost", "4"),
        entry("refunded", "12"), entry("refunded", "2", kind="refund"),  # a correction nets to 10
    ]
    result, bad = run(settings, events, entries)
    assert bad == []
    assert result.counts == {
        "missing_in_ledger": 1, "missing_in_transactions": 1, "duplicate_entry": 1,
        "debit_without_capture": 1, "amount_mismatch": 1,
    }
    assert set(result.counts) == set(LEDGER_SYNC_KINDS)
    by_id = {f["payment_id"]: f for f in result.findings}
    assert by_id["no-debit"] == {"kind": "missing_in_ledger", "payment_id": "no-debit", "amount_usd": "10.000000"}
    assert by_id["ghost"] == {"kind": "missing_in_transactions", "payment_id": "ghost", "amount_usd": "4.000000"}
    assert by_id["never"] == {"kind": "debit_without_capture", "payment_id": "never", "amount_usd": "3.000000"}
    assert by_id["mismatch"] == {"kind": "amount_mismatch", "payment_id": "mismatch",
                                 "transaction_amount_usd": "7.500000", "ledger_amount_usd": "7.500001"}
    assert by_id["dup"]["kind"] == "duplicate_entry" and by_id["dup"]["debits"] == 2
    assert len(result.findings) == 5


def test_duplicate_with_a_different_amount_is_only_a_duplicate(store, settings):
    result, _ = run(settings, captured("dup", "5"), [entry("dup", "5", n=1), entry("dup", "6", n=2)])
    assert [f["kind"] for f in result.findings] == ["duplicate_entry"]
    assert result.counts["amount_mismatch"] == 0


def test_recent_activity_waits_for_the_next_run(store, settings):
    recent = NOW - timedelta(minutes=5)
    events = [event("late", "authorized", at(0)), event("late", "captured", at(0, recent))]
    result, _ = run(settings, events, [])
    assert result.findings == []
    assert result.checked["deferred_payments"] == 1
    result, _ = run(settings, events, [], grace_seconds=60)
    assert [f["kind"] for f in result.findings] == ["missing_in_ledger"]


def test_a_debit_written_after_the_cutoff_defers_its_payment_instead_of_reporting_it_missing(store, settings):
    events = captured("edge")
    result, _ = run(settings, events, [entry("edge", ts=at(0, NOW - timedelta(minutes=1)))])
    assert result.findings == [] and result.checked["deferred_payments"] == 1


def test_bad_lines_are_reported_and_never_counted_into_money(settings):
    events = [*captured("p1"), '{"event_id":"x","ts":"2026-11-26T03:00:00","payment_id":"p1"}\n', "not json\n"]
    naive = entry("p1", "999", ts="2026-11-26T03:01:00")
    entries = [entry("p1"), naive, {**entry("p1", "1.1234567", n=3)}]
    result, bad = run(settings, events, entries)
    assert result.findings == []
    assert sorted((b.file.rsplit("/", 1)[-1], b.line) for b in bad) == [
        ("finance_ledger.jsonl", 2), ("finance_ledger.jsonl", 3),
        ("transactions.jsonl", 3), ("transactions.jsonl", 4),
    ]
    assert any("UTC offset" in b.reason for b in bad)


def test_missing_and_empty_files_reconcile_to_nothing(settings):
    settings.transactions_path.parent.mkdir(parents=True)
    settings.transactions_path.write_bytes(b"")
    ev = payment_events_frame(settings, columns=EVENT_COLUMNS_NEEDED)
    en = finance_entries_frame(settings, columns=ENTRY_COLUMNS_NEEDED)
    result = reconcile(ev.frame, en.frame, now=NOW, grace_seconds=600)
    assert result.findings == [] and sum(result.counts.values()) == 0


def test_sums_are_exact_for_many_micro_amounts(store, settings):
    events = captured("tiny", "1.000000")
    entries = [entry("tiny", "0.000001", n=i, kind="debit" if i == 0 else "refund") for i in range(1)]
    entries += [entry("tiny", "0.999999", n=99)]
    result, _ = run(settings, events, entries)
    assert [f["kind"] for f in result.findings] == ["duplicate_entry"]


def test_a_capture_the_state_machine_refuses_is_no_capture(store, settings):
    # §4: `captured` after `cancelled` changes nothing, so its debit is a debit without capture,
    # and the refused event is an `invalid_transition` of ledger-sync's report.
    events = [event("p", "authorized", at(0)), event("p", "cancelled", at(1)), event("p", "captured", at(2))]
    result, _ = run(settings, events, [entry("p", "10")])
    assert [(f["kind"], f["payment_id"]) for f in result.findings] == [("debit_without_capture", "p")]
    assert result.invalid_transitions == [
        {"kind": "invalid_transition", "payment_id": "p", "from": "cancelled", "to": "captured", "line": 3}]


def test_payment_codes_are_one_code_per_id_across_events_and_entries():
    import pandas as pd
    import pyarrow as pa

    from genesis_payments.jobs.reconciliation import _entry_codes

    event_ids = pd.Index(pd.arrays.ArrowStringArray(pa.array(["a", "b", "c"])))
    entries = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([["c", "d"], ["b", "d", "e"]])))
    codes, ids = _entry_codes(event_ids, entries)
    assert [ids[int(c)] for c in codes] == ["c", "d", "b", "d", "e"]
    assert list(ids) == ["a", "b", "c", "d", "e"]
