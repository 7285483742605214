from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.core.errors import InvalidMoney
from genesis_payments.core.money import MAX_USD, format_usd, from_micro, parse_usd, sum_usd, to_micro

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


@pytest.mark.parametrize("bad", ["1_000", "+5", "1e3", "1E-2", "\uff11\uff12", "0x10", "$5", ".5", "5.", "1,5", "--1",
                                 "nan", "-inf", "sNaN", "1" * 100])
def test_money_strings_are_plain_decimals_only(bad):
    with pytest.raises(InvalidMoney):
        parse_usd(bad)


def test_negative_zero_is_zero():
    assert format_usd(parse_usd("-0")) == "0.000000"
    assert format_usd(parse_usd("-0.000000", allow_negative=True)) == "0.000000"


@given(st.text(max_size=30))
def test_any_text_is_either_money_or_invalid_money(text):
    try:
        amount = parse_usd(text)
    except InvalidMoney:
        return
    assert Decimal(0) <= amount <= MAX_USD and parse_usd(format_usd(amount)) == amount


@given(st.integers(min_value=-to_micro(MAX_USD), max_value=to_micro(MAX_USD)))
def test_signed_round_trip_through_text_and_micro(micro):
    amount = from_micro(micro)
    text = format_usd(amount)
    assert parse_usd(text, allow_negative=True) == amount and to_micro(amount) == micro
    assert len(text.split(".")[1]) == 6


@given(st.integers(min_value=0, max_value=to_micro(MAX_USD)), st.integers(min_value=-6, max_value=3))
def test_any_exact_decimal_spelling_parses_to_the_same_amount(micro, exponent):
    # "12.5", "12.500000" and Decimal("1.25E+1") are the same money; only the value matters.
    amount = from_micro(micro)
    spelled = Decimal(micro).scaleb(-6).normalize()
    assert parse_usd(spelled) == amount and parse_usd(f"{spelled:f}") == amount


@given(st.lists(st.integers(min_value=-to_micro(MAX_USD), max_value=to_micro(MAX_USD)), max_size=100))
def test_signed_sums_are_exact(micros):
    assert to_micro(sum_usd(from_micro(m) for m in micros)) == sum(micros)
