from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.errors import InvalidMoney
from genesis_payments.money import MAX_USD, format_usd, from_micro, parse_usd, sum_usd, to_micro

micro_amounts = st.integers(min_value=0, max_value=to_micro(MAX_USD))


@pytest.mark.parametrize(
    "text, expected",
    [("12.5", "12.500000"), ("0.000001", "0.000001"), ("0", "0.000000"), ("1000000000", "1000000000.000000"),
     ("0.1000000", "0.100000")],
)
def test_parse_and_format(text, expected):
    assert format_usd(parse_usd(text)) == expected


@pytest.mark.parametrize(
    "bad",
    ["0.0000001", "-1", "NaN", "Infinity", "-Infinity", "1e30", "1000000000.000001", "abc", "", " 1", 1.5, True, None],
)
def test_rejected_money(bad):
    with pytest.raises(InvalidMoney):
        parse_usd(bad)


def test_negative_allowed_only_when_asked():
    assert parse_usd("-2.5", allow_negative=True) == Decimal("-2.5")


def test_json_number_parsed_from_its_text_not_through_float():
    # 0.1 + 0.2 through float would be 0.30000000000000004
    assert parse_usd(Decimal("0.1")) + parse_usd(Decimal("0.2")) == Decimal("0.3")


def test_a_million_micro_payments_sum_exactly():
    assert format_usd(sum_usd(["0.000001"] * 1_000_000)) == "1.000000"


@given(micro_amounts)
def test_format_parse_round_trip(micro):
    amount = from_micro(micro)
    assert parse_usd(format_usd(amount)) == amount
    assert to_micro(parse_usd(format_usd(amount))) == micro


@given(st.lists(micro_amounts, max_size=200))
def test_sums_of_micro_amounts_are_exact(micros):
    assert to_micro(sum_usd(format_usd(from_micro(m)) for m in micros)) == sum(micros)
