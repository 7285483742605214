"""The bulk reader (`ledgers.readers`) gives `validate_line`'s verdict and values on every line: where
pyarrow is more lenient than `json` (fields outside the record, escapes, constants, sizes), on edge
values of every field, on other shapes, and on any field values (a property test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.money import to_micro
from genesis_payments.ledgers.jsonl import read_jsonl, validate_line
from genesis_payments.ledgers.readers import ENTRY_SPEC, EVENT_SPEC, RecordSpec, read_block

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
        good.replace('"a"', '"a/b"', 1),  # '/' in an agent id: bad (only a vendor id may hold one)
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


COMPACT_EVENT = {
    "event_id": "evt_1", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "pay_1", "status": "captured",
    "agent": "agent:research-1", "vendor": "api:llm/openrouter", "chain": "eip155:8453", "token": "USDC",
    "amount_usd": "12.5", "tx_hash": "0xabc",
}
COMPACT_ENTRY = {
    "entry_id": "ent_1", "ts": "2026-11-26T03:00:00Z", "payment_id": "pay_1", "agent": "a", "vendor": "v",
    "amount_usd": "1", "kind": "debit",
}

# One field's value at a time, in the project's own compact form.
EDGE_VALUES = {
    "event_id": ["", " ", "   ", " x", "x ", "x" * 256, "x" * 257, "\u00e9", "\x7f", "a,b", "a:b", "{}", "[1]",
                 "a}b", 'q"q', "tab\there", "back\\slash"],
    "amount_usd": ["0", "0.000001", "1.", ".5", "01.50", "1.1234567", "1.123456", "9999999999", "99999999999",
                   "1000000000", "1000000000.000001", "-1", "+1", "1e3", "1_000", " 1", "", "1.0.0", "NaN"],
    "ts": ["2026-11-26T03:00:00Z", "2026-11-26T03:00:00+00:00", "2026-11-26T03:00:00.5+00:00",
           "2026-11-26T03:00:00.123456Z", "2026-11-26t03:00:00Z", "2026-11-26 03:00:00Z",
           "2026-11-26T03:00:00+01:00", "2026-11-26T03:00:00", "2024-02-29T00:00:00Z", "2026-02-29T00:00:00Z",
           "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
           "9999-12-31T23:59:59.999999Z", "2026-11-26T24:00:00Z", "2026-11-26T23:60:00Z", "2026-11-26T23:59:60Z",
           "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z",
           "2026-11-26T03:00:00.1234567Z", "2026-11-26T03:00:00.123456789+00:00", "2026-1-26T03:00:00Z",
           "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z"],
    "status": ["captured", "authorized", "settlement_pending", "Captured", "capture", "capturedx", ""],
    "chain": ["eip155:8453", "eip155:84532", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "ab:1", "abcdefghi:1",
              "EIP155:1", "eip155:", "eip155:" + "1" * 32, "eip155:" + "1" * 33, "eip155", "eip155:8453:1"],
    "token": ["USDC", "", " "],
    "tx_hash": ["", " ", "anything at all, even : and ,"],
    "valid_before": ["2026-11-26T03:05:00+00:00", "not a time", ""],
    "business_id": ["biz", "", " "],
}

STRUCTURE = [
    lambda line: line.replace(',"token":"USDC"', ""),  # a required field missing
    lambda line: line.replace('"token":"USDC"', '"token":"USDC","token":"USDC"'),  # a repeated field
    lambda line: line.replace('"token":"USDC"', '"token":"USDC","extra":"x"'),  # a field the record lacks
    lambda line: line.replace('"token":"USDC"', '"token":"USDC","extra":1'),
    lambda line: line.replace('"token":"USDC"', '"token":1'),  # a number where a string belongs
    lambda line: line.replace('"token":"USDC"', '"token":null'),
    lambda line: line.replace('"tx_hash":"0xabc"', '"tx_hash":null'),  # an optional field given as null
    lambda line: line.replace('"token":"USDC"', '"token":["USDC"]'),
    lambda line: line.replace(",", ", ", 1),  # another writer's spacing: good, decided on the general path
    lambda line: line + " ",
    lambda line: line[:-1],  # no closing brace
    lambda line: line + "}",
    lambda line: "[" + line + "]",
    lambda line: "{}",
    lambda line: "",
    lambda line: line.replace('"token"', '"tok\\u0065n"'),  # an escaped key: the same key to `json`
    lambda line: line.replace('"USDC"', '"US\\u0044C"'),
    lambda line: line.replace(":", " :", 1),
    lambda line: line.replace('"token":"USDC"', '"token":"USDC",'),  # a trailing comma
    lambda line: line.replace("{", "{,", 1),
]


def compact(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_both(tmp_path: Path, spec: RecordSpec, lines: list[str]):
    data = "".join(line + "\n" for line in lines).encode()
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(data)
    calls: list[bytes] = []

    def counting(raw: bytes, model):
        calls.append(raw)
        return validate_line(raw, model)

    return read_block(spec, data, 1, path, validator=counting, small_block=256), read_jsonl(path, spec.model), calls


def assert_same(read, exact, spec: RecordSpec) -> None:
    assert [(b.line, b.reason) for b in read.bad_lines] == [(b.line, b.reason) for b in exact.bad_lines]
    table = read.table
    assert table.num_rows == len(exact.records)
    bad = {b.line for b in exact.bad_lines}
    assert table.column("line").to_pylist() == [n for n in range(1, read.lines + 1) if n not in bad]
    assert table.column("amount_micro").to_pylist() == [to_micro(r.amount_usd) for r in exact.records]
    for name, kind in spec.fields.items():
        if kind != "usd":
            assert table.column(name).to_pylist() == [getattr(r, name) for r in exact.records], name


def test_edge_values_in_the_compact_form_read_as_read_jsonl_reads_them(tmp_path: Path) -> None:
    base = compact(COMPACT_EVENT)
    lines = [base]
    for name, values in EDGE_VALUES.items():
        for value in values:
            lines += [compact({**COMPACT_EVENT, name: value}), base]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert len(exact.bad_lines) >= 40
    # Only lines the vectorised checks could not vouch for were judged exactly.
    assert len(calls) <= len(lines) - (len(lines) + 1) // 2


def test_lines_of_other_shapes_go_to_the_exact_validator(tmp_path: Path) -> None:
    base = compact(COMPACT_EVENT)
    lines = [base]
    for change in STRUCTURE:
        lines += [change(base), base]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert base.encode() not in calls  # the good compact lines were taken by the vectorised checks


def test_keys_in_any_order_are_read_and_the_line_numbers_kept(tmp_path: Path) -> None:
    shuffled = json.dumps(dict(reversed(list(COMPACT_EVENT.items()))), separators=(",", ":"))
    lines = [compact(COMPACT_EVENT), shuffled, compact({**COMPACT_EVENT, "amount_usd": "x"}), shuffled]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert len(calls) == 1


def test_finance_entries_are_read_the_same_way(tmp_path: Path) -> None:
    changes = [{}, {"kind": "refund"}, {"kind": "credit"}, {"amount_usd": "1.0000001"},
               {"ts": "2026-11-26T03:00:00.000001Z"}]
    lines = [compact({**COMPACT_ENTRY, **change}) for change in changes]
    read, exact, calls = read_both(tmp_path, ENTRY_SPEC, lines)
    assert_same(read, exact, ENTRY_SPEC)
    assert len(calls) == 2


def test_the_columns_asked_for_are_the_columns_given(tmp_path: Path) -> None:
    lines = [compact({**COMPACT_EVENT, **change}) for change in ({}, {"chain": "nope"}, {"amount_usd": "7"})]
    data = "".join(line + "\n" for line in lines).encode()
    read = read_block(EVENT_SPEC, data, 10, tmp_path / "t.jsonl", columns=["amount_micro", "payment_id"])
    assert read.table.column_names == ["amount_micro", "payment_id"]
    assert read.table.column("amount_micro").to_pylist() == [12_500_000, 7_000_000]
    assert [b.line for b in read.bad_lines] == [11]


_TEXT = st.text(alphabet=st.sampled_from(list(" aZ09:-_.,{}[]\"\\\t\u00e9\x7f/+")), max_size=12)
_VALUE = st.one_of(
    _TEXT,
    st.from_regex(r"[0-9]{1,11}(\.[0-9]{0,7})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?(Z|\+00:00)", fullmatch=True),
    st.sampled_from(["captured", "failed", "eip155:8453", "USDC"]),
)


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(st.tuples(st.sampled_from(sorted(EVENT_SPEC.fields)), _VALUE), max_size=3),
    drop=st.sets(st.sampled_from(sorted(EVENT_SPEC.fields)), max_size=2),
    shuffle=st.randoms(use_true_random=False),
)
def test_any_field_values_read_as_read_jsonl_reads_them(tmp_path_factory, changes, drop, shuffle) -> None:
    record = {**COMPACT_EVENT, **dict(changes)}
    for name in drop:
        record.pop(name, None)
    items = list(record.items())
    shuffle.shuffle(items)
    line = json.dumps(dict(items), separators=(",", ":"), ensure_ascii=False)
    tmp_path = tmp_path_factory.mktemp("flat")
    read, exact, _ = read_both(tmp_path, EVENT_SPEC, [compact(COMPACT_EVENT), line, compact(COMPACT_EVENT)])
    assert_same(read, exact, EVENT_SPEC)


def test_a_byte_that_is_not_plain_is_seen_at_any_offset_of_a_value(tmp_path: Path) -> None:
    # A raw non-ASCII byte, an escape and a closing quote at every offset of a value.
    lines = []
    for offset in range(40):
        for odd in ("\u00e9", "\\\\", "\\u0001", '\\"'):
            value = json.loads('"' + "x" * offset + odd + "y" * (40 - offset) + '"')
            # json.dumps writes each escape back as it was given.
            lines.append(compact({**COMPACT_EVENT, "tx_hash": value}))
    for tail in range(1, 20):  # the last line's values end within the block's last sixteen bytes
        lines.append(compact({**COMPACT_EVENT, "vendor": "v" * tail}))
    read, exact, _ = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)


def test_ids_of_every_length_put_quotes_at_every_offset_and_read_exactly(tmp_path: Path) -> None:
    lines = [compact({**COMPACT_EVENT, "event_id": "e" * n}) for n in range(1, 131)]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert not calls


def test_a_block_is_read_to_its_end_and_no_further(tmp_path: Path) -> None:
    for size in (1, 15, 16, 17, 63, 64, 65):
        lines = [compact({**COMPACT_EVENT, "event_id": "e" * size}), compact({**COMPACT_EVENT, "tx_hash": "t" * size})]
        text = "".join(line + "\n" for line in lines).encode()
        for after in (b"", b'{"event_id":"cut', b"\xe9\\\x00"):
            read = read_block(EVENT_SPEC, text + after, 1, tmp_path / "t.jsonl", end=len(text))
            assert read.lines == 2 and not read.bad_lines, (size, after)
            assert read.table.column("tx_hash").to_pylist() == ["0xabc", "t" * size]


def test_an_odd_byte_at_the_end_of_the_last_line_is_judged_exactly(tmp_path: Path) -> None:
    good = compact(COMPACT_EVENT)
    for odd in ("\u00e9", "\t", "\\", "\x7f"):
        lines = [good, *(compact({**COMPACT_EVENT, "error": "x" * n + odd}) for n in range(70))]
        read, exact, _ = read_both(tmp_path, EVENT_SPEC, lines)
        assert_same(read, exact, EVENT_SPEC)


def test_lines_cut_at_a_quote_are_bad_lines_with_the_exact_reason(tmp_path: Path) -> None:
    good = compact(COMPACT_EVENT)
    cut = [good[:n] + "}" for n in range(2, len(good) - 1) if good[n - 1] == '"'] + ["{}", '{"}', '{"a"}']
    read, exact, _ = read_both(tmp_path, EVENT_SPEC, [*cut, good, *cut])
    assert_same(read, exact, EVENT_SPEC)
    assert read.table.column("event_id").to_pylist() == ["evt_1"]
