"""The shared fast block reader gives `validate_line`'s verdict on lines whose trouble is where
pyarrow is more lenient than `json`: fields outside the record, escapes, constants, sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_payments.core.money import to_micro
from genesis_payments.ledgers.jsonl import read_jsonl, validate_line
from genesis_payments.ledgers.ledger_columns import ENTRY_SPEC, EVENT_SPEC, read_block

EVENT = {
    "event_id": "e", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "p", "status": "captured",
    "agent": "a", "vendor": "v", "chain": "eip155:8453", "token": "USDC", "amount_usd": "12.5",
}
ENTRY = {
    "entry_id": "e", "ts": "2026-11-26T03:00:00Z", "payment_id": "p", "agent": "a", "vendor": "v",
    "amount_usd": "1", "kind": "debit",
}


def tricky(base: dict) -> list[bytes]:
    good = json.dumps(base)
    with_extra = good[:-1] + ', "x": {}}'
    return [s.encode() if isinstance(s, str) else s for s in [
        with_extra.replace("{}", '1, "x": 2'),  # duplicate key outside the record
        with_extra.replace("{}", '{"q": 1, "q": 2}'),  # duplicate key inside a nested object
        with_extra.replace("{}", '[{"q": 1, "q": 2}]'),  # ... inside a list
        with_extra.replace("{}", "NaN"), with_extra.replace("{}", "-Infinity"),  # constants json refuses
        with_extra.replace("{}", "1" * 5000),  # over Python's integer digit limit
        with_extra.replace("{}", '"\\ud800"'),  # lone surrogate
        with_extra.replace("{}", '"\\udc00"'),
        with_extra.replace("{}", '"\\u00e9"'),  # a fine escape: still good
        with_extra.replace("{}", '"NaN and Infinity as text"'),  # good
        with_extra.replace("{}", "[" * 64 + "]" * 64), with_extra.replace("{}", "[" * 63 + "]" * 63),
        with_extra.replace("{}", '"' + "y" * 5000 + '"'),  # long but good
        with_extra.replace("{}", "1e400"),  # a number json takes as Decimal
        good.replace("2026-11-26T03:00:00", "0000-01-01T00:00:00"),  # year 0 is no date
        good.replace('"a"', '"\u00e9"', 1).encode(),  # non-ASCII id: good, decided exactly
        good.replace('"a"', '"\u2003"', 1).encode(),  # a white-space id beyond ASCII: bad
        good.replace('"a"', '"\\t"', 1),
        " " + good, good + " ",
        good.replace(": ", ":\t"),
    ]]


@pytest.mark.parametrize("spec, base", [(EVENT_SPEC, EVENT), (ENTRY_SPEC, ENTRY)], ids=["events", "entries"])
def test_tricky_lines_among_good_ones_read_as_validate_line_reads_them(tmp_path: Path, spec, base) -> None:
    good = json.dumps(base).encode()
    lines = []
    for raw in tricky(base):
        lines += [good] * 50 + [raw]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    calls = []

    def counting(raw, model):
        calls.append(raw)
        return validate_line(raw, model)

    read = read_block(spec, data, 1, path, validator=counting, small_block=2 << 10)
    exact = read_jsonl(path, spec.model)
    assert [(b.line, b.reason) for b in read.bad_lines] == [(b.line, b.reason) for b in exact.bad_lines]
    assert read.lines == len(lines)
    assert read.table.num_rows == len(exact.records)
    assert read.table.column("amount_micro").to_pylist() == [to_micro(r.amount_usd) for r in exact.records]
    assert read.table.column("ts").to_pylist() == [r.ts for r in exact.records]
    good_lines = sorted(set(range(1, len(lines) + 1)) - {b.line for b in exact.bad_lines})
    assert read.table.column("line").to_pylist() == good_lines
    assert len(calls) < len(lines) // 2  # the plain lines were read on the fast path
    assert len(exact.bad_lines) >= 10


def test_a_block_read_in_parallel_pieces_keeps_line_order_and_numbers(tmp_path: Path) -> None:
    good = json.dumps(EVENT).encode()
    lines = [good] * 6000  # about 1.3 MB: more than one piece
    for at, raw in zip(range(7, 6000, 997), tricky(EVENT), strict=False):
        lines[at] = raw
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 1 << 20
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    read = read_block(EVENT_SPEC, data, 1, path)
    exact = read_jsonl(path, EVENT_SPEC.model)
    assert [(b.line, b.reason) for b in read.bad_lines] == [(b.line, b.reason) for b in exact.bad_lines]
    bad = {b.line for b in exact.bad_lines}
    assert read.table.column("line").to_pylist() == [n for n in range(1, 6001) if n not in bad]
    assert read.lines == 6000 and bad


def test_the_frame_columns_asked_for_do_not_change_which_lines_are_bad(tmp_path: Path) -> None:
    from genesis_payments.ledgers.frames import read_payment_events_frame

    path = tmp_path / "t.jsonl"
    lines = [EVENT, {**EVENT, "agent": ""}, {**EVENT, "chain": "base"}, EVENT]
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    read = read_payment_events_frame(path, columns=("payment_id", "amount_micro", "line"))
    assert read.frame["line"].tolist() == [1, 4]
    assert [b.line for b in read.bad_lines] == [2, 3]
