"""Exact USDC money (§3): Decimal in memory, a JSON string on disk, never a float.

USDC has 6 decimals, so every amount is a whole number of micro-USDC; `to_micro` gives that
integer for vectorised work (pandas int64) and `from_micro` brings it back.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from genesis_payments.core.errors import InvalidMoney

DECIMALS = 6
MICRO = Decimal(1).scaleb(-DECIMALS)
MICRO_PER_USD = 10**DECIMALS
MAX_USD = Decimal(1_000_000_000)
MAX_MICRO = int(MAX_USD) * MICRO_PER_USD
MONEY_PATTERN = r"^-?[0-9]+(\.[0-9]{1,6})?$"
# The plain form of a charge, as this project writes it ("12.5", "0.000001"): at most 10 whole digits
# and 6 decimals, so it is exact in decimal128(18, 6) and needs only the limit checked. `parse_usd`
# takes it at once, and the bulk readers' vectorised check uses this same pattern and `MAX_MICRO`;
# any other text goes through the whole of `parse_usd`.
PLAIN_CHARGE_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
# What a money string may look like before its decimals are counted. `Decimal()` alone would also
# take "1_000", "+5", "1e3", " 1" and non-ASCII digits such as "１２", none of which is a money string.
_MONEY_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_PLAIN_CHARGE = re.compile(PLAIN_CHARGE_PATTERN, re.ASCII)
_NOT_FINITE = frozenset({"nan", "-nan", "snan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"})


def parse_usd(value: Any, *, allow_negative: bool = False) -> Decimal:
    """Parse a money value from a string, int or Decimal; floats are refused, not rounded."""
    if isinstance(value, bool) or isinstance(value, float):
        # A float has already lost the exact amount; accepting it would hide the bug upstream.
        raise InvalidMoney(f"money must be a string or Decimal, not {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        if _PLAIN_CHARGE.fullmatch(value):
            # The common case, a string as written on disk ("12.500000"): only the limit to check.
            plain = Decimal(value)
            if plain <= MAX_USD:
                return plain.quantize(MICRO)
            raise InvalidMoney(f"{value!r} is over the limit of {MAX_USD} USDC")
        text = value.strip()
        if text != value or not text:
            raise InvalidMoney(f"money string {value!r} is empty or padded with spaces")
        if text.lower() in _NOT_FINITE:
            raise InvalidMoney(f"{value!r} is not a finite amount")
        if len(text) > 64 or not _MONEY_TEXT.fullmatch(text):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise InvalidMoney(f"{shown!r} is not a money string (digits, optional '-', optional '.' decimals)")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvalidMoney(f"{value!r} is not a number") from None
    else:
        raise InvalidMoney(f"money must be a string or Decimal, not {type(value).__name__}")
    if not amount.is_finite():
        raise InvalidMoney(f"{value!r} is not a finite amount")
    if amount < 0 and not allow_negative:
        raise InvalidMoney(f"{value!r} is negative; a charge must be zero or more")
    if abs(amount) > MAX_USD:
        raise InvalidMoney(f"{value!r} is over the limit of {MAX_USD} USDC")
    # Checked after the limit so quantize never sees a value too long for the decimal context.
    exact = amount.quantize(MICRO)
    if exact != amount:
        raise InvalidMoney(f"{value!r} has more than {DECIMALS} decimal places")
    # "-0" is zero: adding 0 drops the sign, so it never prints as "-0.000000".
    return exact + 0 if exact.is_zero() else exact


def format_usd(amount: Decimal) -> str:
    """The on-disk form: a plain decimal string with exactly 6 places, e.g. "12.500000"."""
    return f"{amount.quantize(MICRO):f}"


def to_micro(amount: Decimal) -> int:
    """Whole micro-USDC (atomic USDC units) of an amount that `parse_usd` accepted."""
    return int(amount.quantize(MICRO).scaleb(DECIMALS))


def parse_micro(value: Any) -> int:
    """Whole micro-USDC of a charge given as text (or int/Decimal): `parse_usd`'s verdict and value."""
    return to_micro(parse_usd(value))


def from_micro(micro: int) -> Decimal:
    """The amount of a whole number of micro-USDC."""
    return Decimal(int(micro)).scaleb(-DECIMALS).quantize(MICRO)


def usd_from_atomic(atomic: int, decimals: int) -> Decimal:
    """A USD stablecoin amount given in its own atomic units (10**-decimals each) as USDC money.

    An asset with more than 6 decimals can ask for a fraction of a micro-dollar: that is rounded
    up, so a budget never counts less than was paid. Over the money limit is bad input.
    """
    if atomic < 0 or decimals < 0 or decimals > 36:
        raise InvalidMoney(f"atomic amount {atomic} with {decimals} decimals is not a charge")
    amount = Decimal(int(atomic)).scaleb(-int(decimals))
    if amount > MAX_USD:
        raise InvalidMoney(f"{amount} is over the limit of {MAX_USD} USDC")
    return amount.quantize(MICRO, rounding=ROUND_CEILING) + 0


def sum_usd(amounts: Any) -> Decimal:
    """Exact sum of money values, done on integers so no context precision can round it."""
    return from_micro(sum(to_micro(parse_usd(a, allow_negative=True)) for a in amounts))


def _charge(value: Any) -> Decimal:
    return parse_usd(value)


def _signed(value: Any) -> Decimal:
    return parse_usd(value, allow_negative=True)


_MONEY_SCHEMA = {"type": "string", "pattern": MONEY_PATTERN, "description": "USDC amount, up to 6 decimals"}

Usd = Annotated[
    Decimal,
    BeforeValidator(_charge),
    PlainSerializer(format_usd, return_type=str, when_used="always"),
    WithJsonSchema({**_MONEY_SCHEMA, "pattern": r"^[0-9]+(\.[0-9]{1,6})?$"}),
]
"""A charge: zero or more USDC, at most 6 decimals, at most 1e9. Serialised as a string."""

SignedUsd = Annotated[
    Decimal,
    BeforeValidator(_signed),
    PlainSerializer(format_usd, return_type=str, when_used="always"),
    WithJsonSchema(_MONEY_SCHEMA),
]
"""A difference of money (may be negative); otherwise as `Usd`."""
