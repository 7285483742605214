"""The compiled pass for the project's own line form accepts a line only when `read_jsonl` accepts
it with the same values; every other line reaches the exact validator, which gives the verdict."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.money import to_micro
from genesis_payments.ledgers import flat_lines
from genesis_payments.ledgers.jsonl import read_jsonl, validate_line
from genesis_payments.ledgers.ledger_columns import ENTRY_SPEC, EVENT_SPEC, RecordSpec, read_block

EVENT = {
    "event_id": "evt_1", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "pay_1", "status": "captured",
    "agent": "agent:research-1", "vendor": "api:llm/openrouter", "chain": "eip155:8453", "token": "USDC",
    "amount_usd": "12.5", "tx_hash": "0xabc",
}
ENTRY = {
    "entry_id": "ent_1", "ts": "2026-11-26T03:00:00Z", "payment_id": "pay_1", "agent": "a", "vendor": "v",
    "amount_usd": "1", "kind": "debit",
}

# One field's value at a time, in the project's own compact form (so the line reaches the compiled pass).
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
    base = compact(EVENT)
    lines = [base]
    for name, values in EDGE_VALUES.items():
        for value in values:
            lines += [compact({**EVENT, name: value}), base]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert len(exact.bad_lines) >= 40
    # Only lines outside the compact ASCII form, or ones the pass could not vouch for, were judged exactly.
    assert len(calls) <= len(lines) - (len(lines) + 1) // 2


def test_lines_of_other_shapes_go_to_the_exact_validator(tmp_path: Path) -> None:
    base = compact(EVENT)
    lines = [base]
    for change in STRUCTURE:
        lines += [change(base), base]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert base.encode() not in calls  # the good compact lines were taken by the compiled pass


def test_keys_in_any_order_are_read_and_the_line_numbers_kept(tmp_path: Path) -> None:
    shuffled = json.dumps(dict(reversed(list(EVENT.items()))), separators=(",", ":"))
    lines = [compact(EVENT), shuffled, compact({**EVENT, "amount_usd": "x"}), shuffled]
    read, exact, calls = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    assert len(calls) == 1


def test_finance_entries_take_the_same_pass(tmp_path: Path) -> None:
    lines = [compact(ENTRY), compact({**ENTRY, "kind": "refund"}), compact({**ENTRY, "kind": "credit"}),
             compact({**ENTRY, "amount_usd": "1.0000001"}), compact({**ENTRY, "ts": "2026-11-26T03:00:00.000001Z"})]
    read, exact, calls = read_both(tmp_path, ENTRY_SPEC, lines)
    assert_same(read, exact, ENTRY_SPEC)
    assert len(calls) == 2


def test_the_columns_asked_for_are_the_columns_given(tmp_path: Path) -> None:
    lines = [compact(EVENT), compact({**EVENT, "chain": "nope"}), compact({**EVENT, "amount_usd": "7"})]
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
    record = {**EVENT, **dict(changes)}
    for name in drop:
        record.pop(name, None)
    items = list(record.items())
    shuffle.shuffle(items)
    line = json.dumps(dict(items), separators=(",", ":"), ensure_ascii=False)
    tmp_path = tmp_path_factory.mktemp("flat")
    read, exact, _ = read_both(tmp_path, EVENT_SPEC, [compact(EVENT), line, compact(EVENT)])
    assert_same(read, exact, EVENT_SPEC)


def test_a_byte_that_is_not_plain_is_seen_at_any_offset_of_a_value(tmp_path: Path) -> None:
    # The pass reads values sixteen bytes at a time where the block has them, byte by byte near its
    # end: a raw non-ASCII byte, an escape and a closing quote at every offset, on both paths.
    lines = []
    for offset in range(40):
        for odd in ("\u00e9", "\\\\", "\\u0001", '\\"'):
            value = json.loads('"' + "x" * offset + odd + "y" * (40 - offset) + '"')
            # json.dumps writes each escape back as it was given.
            lines.append(compact({**EVENT, "tx_hash": value}))
    for tail in range(1, 20):  # the last line's values end within the block's last sixteen bytes
        lines.append(compact({**EVENT, "vendor": "v" * tail}))
    read, exact, _ = read_both(tmp_path, EVENT_SPEC, lines)
    assert_same(read, exact, EVENT_SPEC)
    data = "".join(line + "\n" for line in lines).encode()
    ok = flat_lines.scan(EVENT_SPEC.flat, data, 0, len(data), max_line=1 << 20).ok
    assert not ok[:160].any()  # each line with an odd byte was left to the general path
    assert ok[160:].all()


def test_coded_fields_give_each_distinct_value_one_code_in_order_of_first_sight() -> None:
    # Thousands of distinct values of every length from 1 to 43 (the hash reads 8 bytes at a time
    # and a tail), repeated; a line the pass does not accept is left out; an absent value is null.
    rng = random.Random(3)
    values = [f"{k}" + "x" * (k % 40) for k in range(3000)]
    chosen = [rng.choice(values) for _ in range(8000)]
    lines = [compact({**ENTRY, "entry_id": f"e{i}", "payment_id": value}) for i, value in enumerate(chosen)]
    lines[5] = compact({k: v for k, v in ENTRY.items() if k != "agent"})  # agent is required: not accepted
    data = "".join(line + "\n" for line in lines).encode()
    field = list(ENTRY_SPEC.fields).index("payment_id")
    scan = flat_lines.scan(ENTRY_SPEC.flat, data, 0, len(data), max_line=4096, code=(field,))
    column = scan.dictionary(field)
    kept = [value for i, value in enumerate(chosen) if i != 5]
    assert column.to_pylist() == kept
    assert column.dictionary.to_pylist() == list(dict.fromkeys(kept))
    without = compact({k: v for k, v in EVENT.items() if k != "tx_hash"})
    data = (compact(EVENT) + "\n" + without + "\n").encode()
    field = list(EVENT_SPEC.fields).index("tx_hash")
    scan = flat_lines.scan(EVENT_SPEC.flat, data, 0, len(data), max_line=4096, code=(field,))
    assert scan.dictionary(field).to_pylist() == ["0xabc", None]


def test_only_the_fields_kept_are_given_and_an_absent_one_is_null_after_a_present_one() -> None:
    # The pass writes its arrays for accepted lines only, so an absent value must be marked
    # absent, not left as whatever the arrays held (they are not cleared first).
    with_both = {**EVENT, "valid_before": "2026-11-26T03:05:00+00:00"}
    without = {k: v for k, v in EVENT.items() if k != "tx_hash"}
    lines = [with_both, without, with_both, without, {**EVENT, "amount_usd": "bad"}, without]
    data = "".join(compact(line) + "\n" for line in lines).encode()
    fields = list(EVENT_SPEC.fields)
    tx_hash, valid_before, amount = (fields.index(name) for name in ("tx_hash", "valid_before", "amount_usd"))
    scan = flat_lines.scan(EVENT_SPEC.flat, data, 0, len(data), max_line=4096, copy=(tx_hash,), keep=(valid_before,))
    assert scan.ok.tolist() == [True, True, True, True, False, True]
    assert scan.strings(tx_hash).to_pylist() == ["0xabc", None, "0xabc", None, None]
    times = scan.numbers_of(valid_before, pa.int64()).to_pylist()
    assert times[0] == times[2] and times[0] is not None and times[1] is None and times[3:] == [None, None]
    assert scan.rows[amount] == -1 and scan.starts.shape[0] == 2  # amount was checked, not kept


def scan_lines(lines: list[str], *, before: bytes = b"", after: bytes = b"", copy: tuple[int, ...] = (0,)):
    """The compiled pass over `lines`, placed between bytes it must not read as lines."""
    text = "".join(line + "\n" for line in lines).encode()
    data = before + text + after
    return flat_lines.scan(EVENT_SPEC.flat, data, len(before), len(before) + len(text), max_line=4096, copy=copy)


def test_quotes_on_every_byte_of_the_words_read_at_once_are_found() -> None:
    # The pass reads strings sixteen bytes at a time: ids of every length from 1 to 130 put each
    # quote of the following fields on every offset of those words, their first and last too.
    ids = ["e" * n for n in range(1, 131)]
    lines = [compact({**EVENT, "event_id": event_id}) for event_id in ids]
    for before in (b"", b"x" * 17, b"y" * 63):
        scan = scan_lines(lines, before=before, copy=(0, 2))
        assert scan.ok.all()
        assert scan.strings(0).to_pylist() == ids
        assert scan.strings(2).to_pylist() == ["pay_1"] * len(ids)
        assert scan.numbers_of(8, pa.int64()).to_pylist() == [12_500_000] * len(ids)


def test_blocks_of_any_length_are_read_to_their_last_line_and_no_further() -> None:
    # Whatever the block's length modulo 16 or 64, its last word is partial; the bytes after it (a
    # line cut short, or bytes that are not plain) are not the block's.
    for size in range(1, 66):
        lines = [compact({**EVENT, "event_id": "e" * size}), compact({**EVENT, "tx_hash": "t" * size})]
        for after in (b"", b'{"event_id":"cut', b"\xe9\\\x00"):
            scan = scan_lines(lines, after=after, copy=(12,))
            assert scan.ok.all(), (size, after)
            assert scan.strings(12).to_pylist() == ["0xabc", "t" * size]
            assert scan.line_ends[-1] == len(lines[0]) + len(lines[1]) + 1


def test_a_byte_that_is_not_plain_in_the_last_word_leaves_its_line_to_the_exact_path() -> None:
    good = compact(EVENT)
    for odd in ("\u00e9", "\t", "\\\\", "\x7f"):
        for last in (compact({**EVENT, "error": "x" * n + odd}) for n in range(70)):
            scan = scan_lines([good, last])
            assert scan.ok.tolist() == [True, odd == "\x7f"]  # DEL is printable ASCII to JSON
            assert scan.line_ends.tolist() == [len(good), len(good) + len(last.encode()) + 1]


def test_lines_cut_at_a_quote_are_left_to_the_exact_path() -> None:
    # The walk looks for a string's closing quote; in a line that lacks it, it must stop at the line
    # (the last one of the block too) rather than take the next line's.
    good = compact(EVENT)
    cut = [good[:n] + "}" for n in range(2, len(good) - 1) if good[n - 1] == '"'] + ["{}", '{"}', '{"a"}']
    scan = scan_lines([*cut, good, *cut])
    assert scan.ok.tolist() == [False] * len(cut) + [True] + [False] * len(cut)
    assert scan.strings(0).to_pylist() == ["evt_1"]
    for last in cut:  # at the block's end too
        assert scan_lines([good, last]).ok.tolist() == [True, False]
