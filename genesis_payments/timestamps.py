"""RFC 3339 timestamps in UTC (§4): an offset is required; a naive timestamp is bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from genesis_payments.errors import InvalidRecord


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_utc(value: Any) -> datetime:
    """Parse an RFC 3339 string (or aware datetime) and normalise it to UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRecord(f"{value!r} is not an RFC 3339 timestamp") from None
        if "T" not in value.upper():
            raise InvalidRecord(f"{value!r} has no time part")
    else:
        raise InvalidRecord(f"timestamp must be an RFC 3339 string, not {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecord(f"{value!r} has no UTC offset (naive timestamps are refused)")
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """Always microseconds and `+00:00`, so timestamps sort as strings too."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(parse_utc),
    PlainSerializer(format_utc, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "RFC 3339, with offset"}),
]
