"""The exporter's fast columnar reading accepts exactly what the per-line validator accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_payments.core.money import to_micro
from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.event_columns import EVENT_SCHEMA, epoch_us, read_event_block
from genesis_payments.ledgers.jsonl import read_jsonl
from tests.support.exporter import payment_event

GOOD = payment_event("e", "p", "captured", "2026-11-26T03:00:00.123456+00:00", amount_usd="12.5")

VARIANTS = [
    {},
    {"amount_usd": "0.000001"}, {"amount_usd": "1000000000"}, {"amount_usd": "1000000000.000001"},
    {"amount_usd": "1.0000001"}, {"amount_usd": "-1"}, {"amount_usd": "1e3"}, {"amount_usd": " 1"},
    {"amount_usd": "12."}, {"amount_usd": ".5"}, {"amount_usd": 2.5}, {"amount_usd": 3},
    {"ts": "2026-11-26T03:00:00Z"}, {"ts": "2026-11-26T04:00:00+01:00"}, {"ts": "2026-11-26T03:00:00"},
    {"ts": "2026-02-30T03:00:00+00:00"}, {"ts": "2026-11-26T24:00:00+00:00"}, {"ts": "2026-11-26 03:00:00+00:00"},
    {"ts": "2026-11-26T03:00:00.5+00:00"}, {"ts": 5},
    {"valid_before": "2026-11-26T03:15:00+00:00"}, {"valid_before": "soon"}, {"valid_before": None},
    {"status": "paid"}, {"status": "CAPTURED"}, {"chain": "base"}, {"chain": "eip155:8453 "},
    {"agent": ""}, {"agent": " "}, {"agent": "\u00a0"}, {"agent": "é"}, {"agent": "a" * 257}, {"agent": 7},
    {"vendor": "payments:deploy:vercel"}, {"business_id": ""}, {"business_id": None}, {"tx_hash": "0xabc"},
    {"error": ""}, {"extra": {"nested": [1, 2]}}, {"agent": None},
]


def lines_for(variant: dict) -> list[bytes]:
    event = {**GOOD, **variant}
    return [json.dumps(event).encode()]


def fast_view(data: bytes) -> tuple[list[tuple], list[int]]:
    read = read_event_block(data, 1, Path("t.jsonl"))
    rows = []
    for table in read.tables:
        assert table.schema == EVENT_SCHEMA
        rows += [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows), sorted(b.line for b in read.bad_lines)


def exact_view(path: Path) -> tuple[list[tuple], list[int]]:
    result = read_jsonl(path, PaymentEvent)
    bad = sorted(b.line for b in result.bad_lines)
    good_lines = [n for n in range(1, len(result.records) + len(bad) + 1) if n not in bad]
    rows = [
        (n, epoch_us(e.ts), e.status, to_micro(e.amount_usd), epoch_us(e.valid_before) if e.valid_before else None,
         e.agent, e.vendor, e.chain, e.payment_id)
        for n, e in zip(good_lines, result.records, strict=True)
    ]
    return sorted(rows), bad


@pytest.mark.parametrize("variant", VARIANTS, ids=[json.dumps(v)[:40] for v in VARIANTS])
def test_each_variant_reads_as_the_exact_validator_reads_it(tmp_path: Path, variant: dict) -> None:
    data = b"".join(line + b"\n" for line in [json.dumps(GOOD).encode(), *lines_for(variant)])
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    assert fast_view(data) == exact_view(path)


@pytest.mark.parametrize("raw", [b"", b"   ", b"not json", b"[1]", b'{"a":1} {"b":2}', b"\xef\xbb\xbf{}",
                                 json.dumps(GOOD).encode() + b"\r", b'{"event_id":"a","event_id":"b"}',
                                 b"\xff"])
def test_shapes_pyarrow_would_accept_are_still_bad_lines(tmp_path: Path, raw: bytes) -> None:
    good = json.dumps(GOOD).encode()
    data = good + b"\n" + raw + b"\n" + good + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    fast = fast_view(data)
    assert fast == exact_view(path)
    assert fast[1] == [2]


def test_a_line_over_the_length_limit_is_a_bad_line(tmp_path: Path) -> None:
    good = json.dumps(GOOD).encode()
    long = json.dumps({**GOOD, "padding": "x" * (1 << 20)}).encode()
    data = good + b"\n" + long + b"\n" + good + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    fast = fast_view(data)
    assert fast == exact_view(path)
    assert fast[1] == [2]


def test_a_large_mixed_block_agrees_with_the_exact_reader(tmp_path: Path) -> None:
    lines = []
    for i in range(300):
        variant = VARIANTS[i % len(VARIANTS)]
        lines.append(json.dumps({**GOOD, "event_id": f"e{i}", "payment_id": f"p{i}", **variant}).encode())
    data = b"".join(line + b"\n" for line in lines)
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    assert fast_view(data) == exact_view(path)


def test_a_byte_order_mark_inside_a_value_is_content_not_a_bad_line(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "error": "\ufeff"}, ensure_ascii=False).encode()
    # In an id an invisible U+FEFF is refused (records.Id), by both readers alike.
    in_id = json.dumps({**GOOD, "agent": "\ufeffagent"}, ensure_ascii=False).encode()
    data = line + b"\n" + json.dumps(GOOD).encode() + b"\n" + in_id + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    fast = fast_view(data)
    assert fast == exact_view(path)
    assert [bad[0] if isinstance(bad, tuple) else getattr(bad, "line", bad) for bad in fast[1]] == [3]


@pytest.mark.parametrize("depth", [10, 63, 64, 65, 2000])
def test_deeply_nested_extra_fields_are_decided_by_the_exact_reader(tmp_path: Path, depth: int) -> None:
    nested = json.dumps({**GOOD, "extra": "NEST"}).encode().replace(b'"NEST"', b"[" * depth + b"]" * depth)
    data = json.dumps(GOOD).encode() + b"\n" + nested + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    assert fast_view(data) == exact_view(path)


def test_warm_up_reads_its_line() -> None:
    from genesis_payments.ledgers import event_columns

    read = event_columns.warm_up()
    assert not read.bad_lines and read.tables[0].num_rows == 1


def test_a_block_is_read_up_to_end_only() -> None:
    events = [payment_event(f"e{i}", f"p{i}", "authorized", "2026-11-26T03:00:00Z") for i in range(3)]
    lines = [json.dumps(event).encode() for event in events]
    data = b"\n".join(lines) + b"\n" + b'{"torn'
    read = read_event_block(data, 5, Path("t.jsonl"), end=len(data) - len(b'{"torn'))
    assert read.lines == 3 and not read.bad_lines
    assert read.tables[0].column("line").to_pylist() == [5, 6, 7]


def test_compact_lines_give_the_exact_values(tmp_path: Path) -> None:
    # The project's own compact form, with variants mixed in: every value must be the exact reader's.
    from genesis_payments.core.records import PAYMENT_STATUSES

    lines = []
    for i in range(400):
        event = {**GOOD, "event_id": f"e{i}", "payment_id": f"p{i % 37}", "status": PAYMENT_STATUSES[i % 6],
                 "agent": f"agent-{i % 5}", "vendor": f"vendor:{i % 7}", "chain": ("eip155:8453", "eip155:1")[i % 2],
                 **(VARIANTS[i % len(VARIANTS)] if i % 3 == 0 else {})}
        lines.append(json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
    data = b"".join(line + b"\n" for line in lines)
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    fast = fast_view(data)
    assert fast == exact_view(path)
    assert {row[2] for row in fast[0]} == set(PAYMENT_STATUSES[:6])
