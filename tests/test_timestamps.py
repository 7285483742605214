from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.core.errors import InvalidRecord
from genesis_payments.core.timestamps import format_utc, parse_utc


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-26T03:00:00.123456+00:00", "2026-11-26T03:00:00.123456+00:00"),
        ("2026-11-26T03:00:00Z", "2026-11-26T03:00:00.000000+00:00"),
        ("2026-11-26t03:00:00z", "2026-11-26T03:00:00.000000+00:00"),
        ("2026-11-26 05:30:00+02:30", "2026-11-26T03:00:00.000000+00:00"),
        ("2026-11-26T03:00:00.1+00:00", "2026-11-26T03:00:00.100000+00:00"),
        ("2026-11-26T03:00:00.123456789+00:00", "2026-11-26T03:00:00.123456+00:00"),
    ],
)
def test_rfc3339_with_offset_is_normalised_to_utc(text, expected):
    assert format_utc(parse_utc(text)) == expected


@pytest.mark.parametrize(
    "bad",
    ["2026-11-26T03:00:00", "2026-11-26", "20261126T030000+0000", "2026-11-26T03:00+00:00", "2026-13-01T00:00:00Z",
     "2026-11-26T03:00:00+0000", "yesterday", "", "2026-11-26T03:00:00.+00:00", 1764126000,
     "\uff12026-11-26T03:00:00Z", datetime(2026, 11, 26, 3, 0)],
)
def test_everything_else_is_bad_input_not_a_crash(bad):
    with pytest.raises(InvalidRecord):
        parse_utc(bad)


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=ZONES))
def test_format_parse_round_trip(moment):
    assert parse_utc(format_utc(moment)) == moment
    assert format_utc(parse_utc(moment.isoformat())) == format_utc(moment)
