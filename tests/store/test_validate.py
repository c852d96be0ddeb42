"""Pure input checks: properties (hypothesis) and examples."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.store import RequestRecord, ValidationError
from antigravityd.store import validate as v

texts = st.one_of(st.none(), st.text(max_size=600))
counters = st.integers(0, 2**31 - 1)
records = st.builds(
    RequestRecord,
    request_id=st.text(min_size=1, max_size=128),
    ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])),
    dialect=st.text(max_size=50), path=st.text(max_size=700), status=st.integers(0, 999),
    requested_model=texts, mapped_model=texts,
    account_id=st.one_of(st.none(), st.uuids().map(str), st.uuids().map(lambda u: str(u).upper())),
    account_email=texts, error_class=texts, tokens_in=counters, tokens_out=counters, tokens_cached=counters,
    tokens_thinking=counters, latency_ms=counters, ttfb_ms=st.one_of(st.none(), counters), stream=st.booleans(),
)


@given(records)
def test_normalised_rows_are_fixed_points(row):
    once = v.request_record(row)
    assert v.request_record(once) is once  # the fast path accepts whatever the slow path produces
    assert "?" not in once.path and "#" not in once.path and once.path
    assert once.ts == row.ts and once.ts.utcoffset() == timedelta(0)
    assert len(once.requested_model or "") <= 256 and len(once.path) <= 512


@pytest.mark.parametrize("bad", [
    {"status": -1}, {"status": 1000}, {"tokens_in": 2**31}, {"tokens_out": True}, {"request_id": ""},
    {"ts": datetime(2030, 1, 1)}, {"account_id": "nope"}, {"ttfb_ms": 1.5}, {"dialect": 5},
])
def test_bad_rows(bad):
    fields = dict(request_id="r", ts=datetime.now(UTC), dialect="openai", path="/v1", status=200) | bad
    with pytest.raises(ValidationError):
        v.request_record(RequestRecord(**fields))


@given(st.text(max_size=200))
def test_scrub_removes_tokens_from_any_text(noise):
    text = f"{noise} ya29.A0ARrdaM-secret_value.x {noise} 1//0gLongRefreshToken-abc_DEF {noise} Bearer abc.def"
    cleaned = v.scrub(text)
    assert "ya29.A0ARrdaM" not in cleaned and "1//0gLongRefresh" not in cleaned and "abc.def" not in cleaned


@pytest.mark.parametrize(("url", "shown"), [
    ("socks5://user:pw@10.0.0.1:1080", "socks5://***@10.0.0.1:1080"),
    ("http://proxy.example:3128", "http://proxy.example:3128"),
    ("https://u@[::1]:443", "https://***@[::1]:443"),
    (None, None),
])
def test_redact_url(url, shown):
    assert v.redact_url(url) == shown


def test_ids_and_emails():
    u = uuid.uuid4()
    assert v.account_id(str(u).upper()) == str(u) == v.account_id(u)
    assert v.email("  A@B.example ") == "a@b.example"
    for bad in ("", "a", "a@", "@b", "a b@c", 5):
        with pytest.raises(ValidationError):
            v.email(bad)
    assert v.proxy_url("") is None
    for bad in ("ftp://x:1", "http://", "socks5://h:99999", "not a url"):
        with pytest.raises(ValidationError):
            v.proxy_url(bad)
