"""Pure pieces of the admin API: time parameters and monitor cursors (examples and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.api.admin_common import BadRequest, iso, parse_time
from antigravityd.api.admin_monitor import decode_cursor, encode_cursor
from antigravityd.store import RequestRecord

NOW = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    ("24h", NOW - timedelta(hours=24)),
    ("7d", NOW - timedelta(days=7)),
    ("90m", NOW - timedelta(minutes=90)),
    ("2w", NOW - timedelta(weeks=2)),
    ("1785900000", datetime.fromtimestamp(1785900000, UTC)),
    ("1785900000123", datetime.fromtimestamp(1785900000.123, UTC)),  # JavaScript milliseconds
    ("2026-08-05T02:38:57Z", datetime(2026, 8, 5, 2, 38, 57, tzinfo=UTC)),
    ("2026-08-05T04:38:57+02:00", datetime(2026, 8, 5, 2, 38, 57, tzinfo=UTC)),
])
def test_parse_time(raw, expected):
    assert parse_time(raw, NOW) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2026-08-05T02:38:57", "-5", "1e20", "24x", ""])
def test_parse_time_rejects(raw):
    with pytest.raises((ValueError, OverflowError)):
        parse_time(raw, NOW)


def test_iso_is_utc_with_z():
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2026-01-02T03:04:05.000678Z"
    assert iso(None) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.from_regex(r"[A-Za-z0-9._:\-|]{1,64}", fullmatch=True))
def test_cursor_round_trip(ts, request_id):
    row = RequestRecord(request_id=request_id, ts=ts, dialect="openai", path="/", status=200)
    assert decode_cursor(encode_cursor(row)) == (ts, request_id)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90LWEtY3Vyc29y", "MjAyNi0wMS0wMVQwMDowMDowMHw="])
def test_bad_cursors(cursor):
    with pytest.raises(BadRequest):
        decode_cursor(cursor)
