"""The fast frame readers agree with the per-line reader (`read_jsonl`) on every line, good or bad."""

from __future__ import annotations

import json

import pytest

from genesis_payments.core.money import to_micro
from genesis_payments.core.records import FinanceEntry, PaymentEvent
from genesis_payments.ledgers import frames, readers
from genesis_payments.ledgers.frames import read_finance_entries_frame, read_payment_events_frame
from genesis_payments.ledgers.jsonl import read_jsonl
from tests.support.ledgers import at, entry, event, write_lines

GOOD = event("p1", "authorized", at(0), "12.500000", valid_before=at(30))


def zoo() -> list:
    """One good line of every accepted form, and one bad line of every kind the contract names."""
    return [
        GOOD,
        event("p2", "captured", at(1), "0.000001", tx_hash="0xab"),
        event("p3", "failed", at(2), "12.5", error="boom"),  # short money form
        event("p4", "captured", "2026-11-26T05:00:00+02:00", "7"),  # other offset
        event("p5", "captured", "2026-11-26T03:00:00Z", "1000000000"),  # Z, the maximum
        json.dumps({**event("p6", "captured", at(3)), "amount_usd": 3}) + "\n",  # JSON number, older files
        event("p7", "captured", "2026-11-26T03:00:00", "1"),  # naive timestamp
        event("p8", "captured", at(4), "1.1234567"),  # 7 decimals
        event("p9", "captured", at(4), "-1"),  # negative
        event("p10", "captured", at(4), "1000000000.000001"),  # over the limit
        event("p11", "teleported", at(4)),  # unknown status
        event("", "captured", at(4)),  # empty id
        event("p13", "captured", "2026-02-30T03:00:00.000000+00:00"),  # no such day
        {k: v for k, v in event("p14", "captured", at(4)).items() if k != "vendor"},  # missing field
        event("p15", "captured", at(4), chain="base"),  # not CAIP-2
        "\n",  # blank
        "null\n",  # a JSON null (crashes some JSON readers)
        "[1, 2]\n",
        '{"event_id": "x", "event_id": "y"}\n',
        json.dumps(GOOD).replace("}", ', "x": NaN}') + "\n",
        json.dumps(GOOD) + "\r\n",  # CRLF
        json.dumps(GOOD) + " " + json.dumps(GOOD) + "\n",  # two objects on one line
        b'{"event_id": "\xff"}\n',  # invalid UTF-8
        b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n",  # byte order mark
        "   \n",
        event("p16", "captured", at(5), "5.5"),
        json.dumps(GOOD),  # torn last line: no newline
    ]


def reference(path, model):
    result = read_jsonl(path, model)
    return [r.payment_id if hasattr(r, "payment_id") else r for r in result.records], [
        (b.line, b.reason) for b in result.bad_lines]


@pytest.mark.parametrize("block_bytes", [64, 700, 1 << 20])
def test_events_reader_matches_read_jsonl_line_for_line(settings, monkeypatch, block_bytes):
    monkeypatch.setattr(frames, "BLOCK_BYTES", block_bytes)
    path = write_lines(settings.transactions_path, zoo())
    ids, bad = reference(path, PaymentEvent)
    read = read_payment_events_frame(path)
    assert read.frame["payment_id"].tolist() == ids
    assert [(b.line, b.reason) for b in read.bad_lines] == bad
    records = read_jsonl(path, PaymentEvent).records
    assert read.frame["amount_micro"].tolist() == [to_micro(r.amount_usd) for r in records]
    assert read.frame["ts"].tolist() == [r.ts for r in records]


def test_projection_reads_only_the_columns_asked_for(settings):
    path = write_lines(settings.transactions_path, [GOOD, event("p2", "captured", at(1), "3")])
    read = read_payment_events_frame(path, columns=("payment_id", "amount_micro", "line"))
    assert list(read.frame.columns) == ["payment_id", "amount_micro", "line"]
    assert read.frame.to_dict("records") == [
        {"payment_id": "p1", "amount_micro": 12_500_000, "line": 1},
        {"payment_id": "p2", "amount_micro": 3_000_000, "line": 2},
    ]


def test_entries_reader_matches_read_jsonl(settings):
    lines = [entry("a"), entry("b", "0.5", kind="refund"), entry("c", kind="credit"), entry("d", ts="2026-11-26")]
    path = write_lines(settings.finance_ledger_path, lines)
    read = read_finance_entries_frame(path)
    expected = read_jsonl(path, FinanceEntry)
    assert read.frame["payment_id"].tolist() == [r.payment_id for r in expected.records]
    assert [(b.line, b.reason) for b in read.bad_lines] == [(b.line, b.reason) for b in expected.bad_lines]
    assert read.frame["kind"].tolist() == ["debit", "refund"]


def test_missing_and_empty_files_give_empty_typed_frames(settings):
    read = read_payment_events_frame(settings.transactions_path)
    assert read.frame.empty and read.bad_lines == []
    assert str(read.frame["amount_micro"].dtype) == "int64"
    write_lines(settings.transactions_path, [])
    assert read_payment_events_frame(settings.transactions_path).frame.empty


def test_rows_the_fast_checks_doubt_are_judged_one_by_one_in_a_parsed_block(settings):
    lines = []
    for i in range(300):
        if i % 50 == 7:
            lines.append(event(f"n{i}", "captured", "2026-11-26T03:00:00", "1"))  # naive: bad
        elif i % 50 == 9:
            lines.append(event(f"s{i}", "captured", at(i), "2.5"))  # short money: good, slow path
        else:
            lines.append(event(f"g{i}", "captured", at(i), "1.000000"))
    path = write_lines(settings.transactions_path, lines)
    ids, bad = reference(path, PaymentEvent)
    read = read_payment_events_frame(path)
    assert read.frame["payment_id"].tolist() == ids and len(ids) == 294
    assert [(b.line, b.reason) for b in read.bad_lines] == bad
    assert read.frame["line"].is_monotonic_increasing
    assert int(read.frame["amount_micro"].sum()) == 288 * 1_000_000 + 6 * 2_500_000


def test_a_bad_line_in_a_big_block_costs_only_a_small_slow_read(settings, monkeypatch):
    monkeypatch.setattr(frames, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(readers, "SMALL_BLOCK", 2 << 10)
    slow_lines = []

    def counting(raw, model):
        slow_lines.append(raw)
        return frames_validate(raw, model)

    frames_validate = readers.validate_line
    monkeypatch.setattr(readers, "validate_line", counting)
    lines = [event(f"g{i}", "captured", at(i), "1") for i in range(600)]
    lines[300:300] = ["\n", "null\n"]
    path = write_lines(settings.transactions_path, lines)
    ids, bad = reference(path, PaymentEvent)
    read = read_payment_events_frame(path)
    assert read.frame["payment_id"].tolist() == ids and len(ids) == 600
    assert [(b.line, b.reason) for b in read.bad_lines] == bad and [b[0] for b in bad] == [301, 302]
    assert len(slow_lines) < 60  # not the whole 64 KB block (about 250 lines)


def test_a_block_with_an_amount_arrow_cannot_cast_still_reads_the_rest_exactly(settings):
    amounts = ["1.000000", "12.5", "1.1234567", "-1", "7", "1e2", "0.000001", "1000000000.000001"]
    lines = [event(f"p{i}", "captured", at(i), amount) for i, amount in enumerate(amounts)]
    # 1e2 as a JSON number (§3: older files, converted from its text); "1e2" as a string is not money.
    lines[5] = json.dumps(lines[5]).replace('"1e2"', "1e2") + "\n"
    path = write_lines(settings.transactions_path, lines)
    ids, bad = reference(path, PaymentEvent)
    read = read_payment_events_frame(path)
    assert read.frame["payment_id"].tolist() == ids == ["p0", "p1", "p4", "p5", "p6"]
    assert read.frame["amount_micro"].tolist() == [1_000_000, 12_500_000, 7_000_000, 100_000_000, 1]
    assert [(b.line, b.reason) for b in read.bad_lines] == bad
