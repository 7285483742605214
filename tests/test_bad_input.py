"""A corpus of bad lines between good ones: each reported with its line number and a reason, no
good line lost, nothing raised — for every reader (full, incremental, frames) and both ledgers."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.records import FinanceEntry, PaymentEvent
from genesis_payments.ledgers.frames import read_finance_entries_frame, read_payment_events_frame
from genesis_payments.ledgers.jsonl import BadLine, IncrementalReader, ReadResult, read_jsonl

DROP = object()

EVENT = {
    "event_id": "good", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "pay_1", "status": "captured",
    "agent": "agent:a", "vendor": "payments:deploy:vercel", "chain": "eip155:8453", "token": "USDC",
    "amount_usd": "12.500000", "valid_before": "2026-11-26T03:05:00+00:00",
}
ENTRY = {
    "entry_id": "good", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "pay_1", "agent": "agent:a",
    "vendor": "payments:deploy:vercel", "amount_usd": "12.500000", "kind": "debit",
}


def _line(base: dict, id_field: str, **changes: object) -> bytes:
    obj = {**base, id_field: "bad"}
    for key, value in changes.items():
        if value is DROP:
            obj.pop(key, None)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


def _with_amount(base: dict, id_field: str, raw_amount: bytes) -> bytes:
    """A line whose amount is the given raw JSON text (a bare number, constant, ...)."""
    return _line(base, id_field, amount_usd="__AMOUNT__").replace(b'"__AMOUNT__"', raw_amount)


def common_corpus(base: dict, id_field: str) -> dict[str, bytes]:
    """Bad lines that are bad for either ledger: syntax, encoding, framing, money, time, ids."""
    good = json.dumps({**base, id_field: "bad"}).encode()
    return {
        "invalid JSON": b'{"event_id": "bad", "ts": ',
        "truncated object": good[: len(good) // 2],
        "trailing garbage": good + b" garbage",
        "two objects on one line": good + good,
        "array instead of object": json.dumps([base]).encode(),
        "string instead of object": b'"just a string"',
        "null line": b"null",
        "empty line": b"",
        "blank line": b"   \t ",
        "byte order mark": b"\xef\xbb\xbf" + good,
        "CRLF ending": good + b"\r",
        "2 MB line": _line(base, id_field, note="x" * (2 << 20)),
        "invalid UTF-8": _line(base, id_field, agent="AGENT").replace(b"AGENT", b"ag\xff\xfeent"),
        "lone surrogate escape": _line(base, id_field, note="SURR").replace(b"SURR", b"\\ud800"),
        "control character in string": _line(base, id_field, agent="AG").replace(b"AG", b"a\x01g"),
        "duplicate keys": good[:-1] + b', "amount_usd": "1.000000"}',
        "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
        "5000-digit integer": _with_amount(base, id_field, b"1" * 5000),
        "wrong type (number for agent)": _line(base, id_field, agent=42),
        "null required field": _line(base, id_field, agent=None),
        "object where a string is expected": _line(base, id_field, vendor={"name": "vercel"}),
        "missing id": _line(base, id_field, **{id_field: DROP}),
        "empty id": _line(base, id_field, **{id_field: ""}),
        "white-space id": _line(base, id_field, **{id_field: "   "}),
        "missing payment_id": _line(base, id_field, payment_id=DROP),
        "missing amount": _line(base, id_field, amount_usd=DROP),
        "7 decimals": _line(base, id_field, amount_usd="1.1234567"),
        "7 decimals as a JSON number": _with_amount(base, id_field, b"0.1234567"),
        "negative amount": _line(base, id_field, amount_usd="-1.000000"),
        "negative JSON number": _with_amount(base, id_field, b"-5"),
        "NaN string": _line(base, id_field, amount_usd="NaN"),
        "NaN constant": _with_amount(base, id_field, b"NaN"),
        "Infinity string": _line(base, id_field, amount_usd="Infinity"),
        "Infinity constant": _with_amount(base, id_field, b"Infinity"),
        "-Infinity constant": _with_amount(base, id_field, b"-Infinity"),
        "1e30 string": _line(base, id_field, amount_usd="1e30"),
        "1e30 JSON number": _with_amount(base, id_field, b"1e30"),
        "over a billion": _line(base, id_field, amount_usd="1000000000.000001"),
        "amount as bool": _with_amount(base, id_field, b"true"),
        "amount as list": _line(base, id_field, amount_usd=["1.0"]),
        "empty amount": _line(base, id_field, amount_usd=""),
        "padded amount": _line(base, id_field, amount_usd=" 1.5"),
        "amount with underscores": _line(base, id_field, amount_usd="1_000"),
        "amount with non-ASCII digits": _line(base, id_field, amount_usd="\uff11\uff12"),
        "amount in hex": _line(base, id_field, amount_usd="0x10"),
        "amount with currency sign": _line(base, id_field, amount_usd="$5.00"),
        "naive timestamp": _line(base, id_field, ts="2026-11-26T03:00:00"),
        "timestamp without time": _line(base, id_field, ts="2026-11-26"),
        "timestamp as epoch number": _line(base, id_field, ts=1764126000),
        "impossible date": _line(base, id_field, ts="2026-13-45T03:00:00+00:00"),
        "ISO basic format, not RFC 3339": _line(base, id_field, ts="20261126T030000+0000"),
        "timestamp without seconds": _line(base, id_field, ts="2026-11-26T03:00+00:00"),
        "missing timestamp": _line(base, id_field, ts=DROP),
        "id over 256 characters": _line(base, id_field, **{id_field: "x" * 300}),
    }


def event_corpus() -> dict[str, bytes]:
    corpus = common_corpus(EVENT, "event_id")
    corpus.update({
        "unknown status": _line(EVENT, "event_id", status="refunded"),
        "status in capitals": _line(EVENT, "event_id", status="CAPTURED"),
        "unknown chain format": _line(EVENT, "event_id", chain="base"),
        "naive valid_before": _line(EVENT, "event_id", valid_before="2026-11-26T03:05:00"),
        "missing token": _line(EVENT, "event_id", token=DROP),
    })
    return corpus


def entry_corpus() -> dict[str, bytes]:
    corpus = common_corpus(ENTRY, "entry_id")
    corpus.update({
        "unknown entry kind": _line(ENTRY, "entry_id", kind="credit"),
        "missing kind": _line(ENTRY, "entry_id", kind=DROP),
    })
    return corpus


def good_lines(base: dict, id_field: str) -> list[tuple[bytes, dict]]:
    """Good lines, legacy forms included, each with what its record must hold."""
    def line(index: int, **changes: object) -> bytes:
        return json.dumps({**base, id_field: f"good-{index}", **changes}).encode()

    variants: list[tuple[bytes, dict]] = [
        (line(0), {"amount_usd": Decimal("12.5")}),
        (line(1, amount_usd="0.000001"), {"amount_usd": Decimal("0.000001")}),
        # Legacy JSON numbers: converted from their text, never through float.
        (line(2, amount_usd="N").replace(b'"N"', b"12.5"), {"amount_usd": Decimal("12.5")}),
        (line(3, amount_usd="N").replace(b'"N"', b"0.1"), {"amount_usd": Decimal("0.1")}),
        (line(4, amount_usd="N").replace(b'"N"', b"3"), {"amount_usd": Decimal(3)}),
        (line(5, amount_usd="N").replace(b'"N"', b"1.100000"), {"amount_usd": Decimal("1.1")}),
        (line(6, amount_usd="N").replace(b'"N"', b"2.5E+2"), {"amount_usd": Decimal(250)}),
        (line(7, amount_usd="1000000000"), {"amount_usd": Decimal(1_000_000_000)}),
        (line(8, amount_usd="-0"), {"amount_usd": Decimal(0)}),
        (line(9, ts="2026-11-26T05:00:00+02:00"), {"ts_text": "2026-11-26T03:00:00.000000+00:00"}),
        (line(10, ts="2026-11-26T03:00:00Z"), {"ts_text": "2026-11-26T03:00:00.000000+00:00"}),
        (line(11, ts="2026-11-26T03:00:00.123456789+00:00"), {"ts_text": "2026-11-26T03:00:00.123456+00:00"}),
        (line(12, note="more fields are allowed", nested={"k": [1, 2]}), {"note": "more fields are allowed"}),
        (line(13, agent="agent:ünïcödé ✓"), {"agent": "agent:ünïcödé ✓"}),
        (line(14, vendor="payments:deploy:vercel/edge"), {"vendor": "payments:deploy:vercel/edge"}),
    ]
    return variants


def write_mixed(path: Path, good: list[tuple[bytes, dict]], bad: dict[str, bytes]) -> tuple[dict[int, str], list[int]]:
    """Good and bad lines alternating (good first and last); returns bad line → kind, good line numbers."""
    bad_at: dict[int, str] = {}
    good_at: list[int] = []
    out: list[bytes] = []
    bad_items = list(bad.items())
    goods = iter(good * (len(bad_items) // len(good) + 2))
    for kind, raw in bad_items:
        out.append(next(goods)[0])
        good_at.append(len(out))
        out.append(raw)
        bad_at[len(out)] = kind
    out.append(next(goods)[0])
    good_at.append(len(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(raw + b"\n" for raw in out))
    return bad_at, good_at


def expected_good_ids(good: list[tuple[bytes, dict]], count: int, id_field: str) -> list[str]:
    ids = [json.loads(raw)[id_field] for raw, _ in good]
    return [ids[i % len(ids)] for i in range(count)]


def assert_reported(bad_lines: list[BadLine], bad_at: dict[int, str], path: Path) -> None:
    assert [b.line for b in bad_lines] == sorted(bad_at), "every bad line reported once, by its number"
    for bad in bad_lines:
        assert bad.file == str(path)
        assert bad.reason and len(bad.reason) < 500, f"{bad_at[bad.line]}: reason {bad.reason!r}"


CASES = [
    pytest.param(PaymentEvent, EVENT, "event_id", event_corpus, "transactions_path", id="PaymentEvent"),
    pytest.param(FinanceEntry, ENTRY, "entry_id", entry_corpus, "finance_ledger_path", id="FinanceEntry"),
]


def test_the_corpus_has_at_least_25_kinds_each_bad_on_its_own():
    for corpus in (event_corpus(), entry_corpus()):
        assert len(corpus) >= 25
        assert len(set(corpus.values())) == len(corpus), "every kind is a different line"
        for kind, raw in corpus.items():
            assert b"\n" not in raw, kind


@pytest.mark.parametrize("model, base, id_field, corpus, path_name", CASES)
def test_read_jsonl_reports_every_bad_line_and_keeps_every_good_one(settings, model, base, id_field, corpus,
                                                                    path_name):
    path = getattr(settings, path_name)
    good = good_lines(base, id_field)
    bad_at, good_at = write_mixed(path, good, corpus())
    result = read_jsonl(path, model)
    assert_reported(result.bad_lines, bad_at, path)
    assert [getattr(r, id_field) for r in result.records] == expected_good_ids(good, len(good_at), id_field)
    # The legacy and edge forms among the good lines hold exactly what they should.
    for record in result.records[: len(good)]:
        index = int(getattr(record, id_field).removeprefix("good-"))
        for key, value in good[index][1].items():
            if key == "ts_text":
                assert record.to_json_dict()["ts"] == value
            elif key == "amount_usd":
                assert record.amount_usd == value and isinstance(record.amount_usd, Decimal)
                assert record.to_json_dict()["amount_usd"] == f"{value:.6f}"
            else:
                assert getattr(record, key) == value


def test_legacy_json_number_amount_is_taken_from_its_text_not_a_float(settings):
    path = settings.transactions_path
    path.parent.mkdir(parents=True)
    # 0.1 + 0.2 through floats is 0.30000000000000004; 1.000001 is not exactly representable either.
    lines = [json.dumps({**EVENT, "event_id": f"e{i}", "amount_usd": "N"}).replace('"N"', text) for i, text in
             enumerate(("0.1", "0.2", "1.000001", "999999999.999999"))]
    path.write_text("".join(line + "\n" for line in lines))
    result = read_jsonl(path, PaymentEvent)
    assert result.bad_lines == []
    amounts = [r.amount_usd for r in result.records]
    assert amounts == [Decimal("0.1"), Decimal("0.2"), Decimal("1.000001"), Decimal("999999999.999999")]
    assert amounts[0] + amounts[1] == Decimal("0.3")
    assert [r.to_json_dict()["amount_usd"] for r in result.records] == [
        "0.100000", "0.200000", "1.000001", "999999999.999999"]


@pytest.mark.parametrize("model, base, id_field, corpus, path_name", CASES)
def test_incremental_reader_reports_the_same_in_pieces(settings, model, base, id_field, corpus, path_name):
    path = getattr(settings, path_name)
    good = good_lines(base, id_field)
    bad_at, _ = write_mixed(path, good, corpus())
    whole = path.read_bytes()
    full = read_jsonl(path, model)

    reader = IncrementalReader(path, model)
    path.write_bytes(b"")
    seen: ReadResult = ReadResult()
    # Feed the file in uneven pieces, some ending mid-line: a partial last line waits for its end.
    cuts = [0, 1, 5_000, len(whole) // 3, len(whole) // 2 + 7, len(whole) - 3, len(whole)]
    for start, stop in itertools.pairwise(cuts):
        with open(path, "ab") as handle:
            handle.write(whole[start:stop])
        new, reset = reader.read_new()
        assert not reset
        seen.records += new.records
        seen.bad_lines += new.bad_lines
    assert_reported(seen.bad_lines, bad_at, path)
    assert seen.bad_lines == full.bad_lines
    assert [getattr(r, id_field) for r in seen.records] == [getattr(r, id_field) for r in full.records]


@pytest.mark.parametrize(
    "reader, base, id_field, corpus, path_name",
    [
        pytest.param(read_payment_events_frame, EVENT, "event_id", event_corpus, "transactions_path", id="events"),
        pytest.param(read_finance_entries_frame, ENTRY, "entry_id", entry_corpus, "finance_ledger_path", id="entries"),
    ],
)
def test_frame_readers_report_bad_lines_and_keep_good_rows_with_their_line_numbers(
    settings, reader, base, id_field, corpus, path_name
):
    path = getattr(settings, path_name)
    good = good_lines(base, id_field)
    bad_at, good_at = write_mixed(path, good, corpus())
    read = reader(path)
    assert_reported(read.bad_lines, bad_at, path)
    frame = read.frame
    assert list(frame["line"]) == good_at
    assert list(frame[id_field]) == expected_good_ids(good, len(good_at), id_field)
    assert str(frame["amount_micro"].dtype) == "int64"
    by_id = dict(zip(frame[id_field], frame["amount_micro"], strict=True))
    assert by_id["good-2"] == 12_500_000 and by_id["good-3"] == 100_000 and by_id["good-1"] == 1
    assert str(frame["ts"].dt.tz) == "UTC"


def test_a_file_of_only_bad_lines_and_a_missing_file_read_without_raising(settings):
    path = settings.transactions_path
    assert read_jsonl(path, PaymentEvent).records == []
    path.parent.mkdir(parents=True)
    corpus = event_corpus()
    path.write_bytes(b"\n".join(corpus.values()))  # no newline at the end: the last is a torn tail
    result = read_jsonl(path, PaymentEvent)
    assert result.records == [] and len(result.bad_lines) == len(corpus)
    assert "torn" in result.bad_lines[-1].reason
    frame = read_payment_events_frame(path)
    assert frame.frame.empty and len(frame.bad_lines) == len(corpus)
