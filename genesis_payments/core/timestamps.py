"""RFC 3339 timestamps in UTC (§4): an offset is required; a naive timestamp is bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from genesis_payments.core.errors import InvalidRecord

# RFC 3339 date-time. `datetime.fromisoformat` alone also takes ISO 8601 forms that are not RFC 3339
# ("20261126T030000+0000", a missing seconds field, a date alone), so the shape is checked first.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
# The canonical UTC form this project writes (`…T03:00:00.123456+00:00`, or `Z`), every field in its
# range: what the bulk readers' vectorised check accepts without `parse_utc` (a real date is checked
# there too). Year 0000 is not a Python date. Any other text goes through `parse_utc`.
CANONICAL_UTC_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{6})?(\+00:00|Z)$"
)
NOT_A_YEAR = "0000"


def utc_now() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """Whole µs since the Unix epoch of an aware datetime, computed without floats."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_utc(value: Any) -> datetime:
    """Parse an RFC 3339 string (or aware datetime) and normalise it to UTC."""
    if isinstance(value, datetime):
        moment = value
        if moment.tzinfo is UTC:
            return moment  # the common case (utc_now(), already parsed): nothing to normalise
    elif isinstance(value, str):
        shape = _RFC3339.fullmatch(value) if len(value) <= 40 else None
        if shape is None:
            shown = value if len(value) <= 40 else value[:40] + "…"
            if len(value) == 10 and value[4:5] == "-":
                raise InvalidRecord(f"{shown!r} has no time part")
            raise InvalidRecord(f"{shown!r} is not an RFC 3339 timestamp")
        if shape.group("offset") is None:
            raise InvalidRecord(f"{value!r} has no UTC offset (naive timestamps are refused)")
        try:
            # Python 3.11 takes at most 6 fractional digits; RFC 3339 allows more (cut, not rounded).
            text = value if len(value) <= 32 else _at_most_micro(value)  # 32: "…:00.123456+00:00"
            moment = datetime.fromisoformat(text.upper())  # 't'/'z' are RFC 3339 too
        except ValueError:
            raise InvalidRecord(f"{value!r} is not a valid date and time") from None
    else:
        raise InvalidRecord(f"timestamp must be an RFC 3339 string, not {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecord(f"{value!r} has no UTC offset (naive timestamps are refused)")
    return moment.astimezone(UTC)


def _at_most_micro(value: str) -> str:
    dot = value.find(".")
    if dot < 0:
        return value
    end = dot + 1
    while end < len(value) and value[end].isdigit():
        end += 1
    return value[: min(end, dot + 7)] + value[end:]


def format_utc(moment: datetime) -> str:
    """Always microseconds and `+00:00`, so timestamps sort as strings too."""
    # Formatted by hand: `strftime` is several times slower and this runs on every ledger append.
    m = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}+00:00"
    )


UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(parse_utc),
    PlainSerializer(format_utc, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, with offset"}),
]
