"""Every path that turns text into money (or into a time) gives the same verdict and the same value:
`core.money.parse_usd`, record validation, the bulk readers' vectorised checks, spend state.
Likewise for timestamps: `core.timestamps.parse_utc`, record validation, the bulk readers."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from genesis_payments.approvals.spend_state import micro_from_text
from genesis_payments.core.errors import InvalidMoney, InvalidRecord
from genesis_payments.core.money import parse_micro, parse_usd, to_micro
from genesis_payments.core.records import FinanceEntry, PaymentEvent
from genesis_payments.core.timestamps import parse_utc
from genesis_payments.ledgers.readers import ENTRY_SPEC, EVENT_SPEC, read_block

EVENT = {
    "event_id": "e", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "p", "status": "captured",
    "agent": "a", "vendor": "v", "chain": "eip155:8453", "token": "USDC", "amount_usd": "1",
}
ENTRY = {"entry_id": "n", "ts": "2026-11-26T03:00:00Z", "payment_id": "p", "agent": "a", "vendor": "v",
         "amount_usd": "1", "kind": "debit"}

MONEY_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,12}(\.[0-9]{0,8})?", fullmatch=True),
    st.text(alphabet=st.sampled_from(list("0123456789.-+e_ E\u0661\uff11naif")), max_size=14),
    st.sampled_from(["1000000000", "1000000000.000000", "1000000000.000001", "999999999.999999", "0", "-0",
                     "0.0000000", "1.1234560", "00000000001", "NaN", "Infinity", "1e3", " 1", "1 ", ""]),
)


def verdict(parse) -> int | str:
    try:
        return parse()
    except (InvalidMoney, InvalidRecord, ValueError, ValidationError):
        return "rejected"


def by_reader(spec, base: dict, field: str, value: str, path: Path):
    """The bulk reader's verdict on one line among plain ones (so the vectorised path is taken)."""
    line = json.dumps({**base, field: value}, separators=(",", ":")).encode()
    plain = json.dumps(base, separators=(",", ":")).encode()
    read = read_block(spec, plain + b"\n" + line + b"\n" + plain + b"\n", 1, path)
    rows = read.table.filter(read.table.column("line").to_numpy() == 2)
    return rows, read.bad_lines


@settings(max_examples=300, deadline=None)
@given(text=MONEY_TEXT)
@example(text="1000000000.000001")
@example(text="9999999999.999999")
def test_every_path_from_text_to_money_accepts_the_same_strings_with_the_same_value(text: str) -> None:
    expected = verdict(lambda: to_micro(parse_usd(text)))
    assert verdict(lambda: parse_micro(text)) == expected
    assert verdict(lambda: micro_from_text(text)) == expected
    assert verdict(lambda: to_micro(PaymentEvent.model_validate({**EVENT, "amount_usd": text}).amount_usd)) == expected
    assert verdict(lambda: to_micro(FinanceEntry.model_validate({**ENTRY, "amount_usd": text}).amount_usd)) == expected
    for spec, base in ((EVENT_SPEC, EVENT), (ENTRY_SPEC, ENTRY)):
        rows, bad = by_reader(spec, base, "amount_usd", text, Path("t.jsonl"))
        read = rows.column("amount_micro").to_pylist()[0] if rows.num_rows else "rejected"
        assert read == expected, spec.model.__name__
        assert (expected == "rejected") == bool(bad)


TIME_TEXT = st.one_of(
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?",
                  fullmatch=True),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2026-11-26",
                     "2026-11-26T23:59:60Z", "2026-11-26T24:00:00+00:00", "2026-11-26t03:00:00z"]),
)


@settings(max_examples=300, deadline=None)
@given(text=TIME_TEXT)
def test_every_path_from_text_to_a_time_accepts_the_same_strings_with_the_same_instant(text: str) -> None:
    expected = verdict(lambda: parse_utc(text))
    assert verdict(lambda: PaymentEvent.model_validate({**EVENT, "ts": text}).ts) == expected
    rows, bad = by_reader(EVENT_SPEC, EVENT, "ts", text, Path("t.jsonl"))
    read = rows.column("ts").to_pylist()[0] if rows.num_rows else "rejected"
    assert read == expected
    assert (expected == "rejected") == bool(bad)
