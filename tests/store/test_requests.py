"""Conformance: the request log (batch insert, monitor queries, statistics, retention)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from antigravityd.store import RequestRecord, ValidationError

T0 = datetime(2030, 3, 1, 10, 0, tzinfo=UTC)
ACC_A = str(uuid.uuid4())
ACC_B = str(uuid.uuid4())


def rec(minutes: float = 0, **kw) -> RequestRecord:
    base = dict(request_id=str(uuid.uuid4()), ts=T0 + timedelta(minutes=minutes), dialect="openai",
                path="/v1/chat/completions", status=200, requested_model="gpt-4o", mapped_model="gemini-3-flash",
                account_id=ACC_A, account_email="a@example.com", tokens_in=100, tokens_out=20, tokens_cached=40,
                tokens_thinking=5, latency_ms=300, ttfb_ms=50, stream=True)
    base.update(kw)
    return RequestRecord(**base)


async def test_insert_is_idempotent_per_request_id(repo):
    rows = [rec(i) for i in range(50)]
    assert await repo.insert_requests(rows) == 50
    assert await repo.insert_requests([*rows[:10], rec(60)]) == 1  # a replayed batch counts once
    assert await repo.insert_requests([]) == 0
    totals = await repo.token_totals(since=T0 - timedelta(hours=1))
    assert totals.requests == 51 and totals.tokens_in == 5100  # the rollup counted each row once


async def test_rows_round_trip_without_query_strings(repo):
    row = rec(path="/v1beta/models/gemini:generateContent?key=AIzaSECRET&alt=sse", ttfb_ms=None, stream=False,
              account_id=None, account_email=None, status=503, error_class="capacity")
    await repo.insert_requests([row])
    [back] = await repo.recent_requests()
    assert back.path == "/v1beta/models/gemini:generateContent"
    assert back == dataclasses.replace(row, path="/v1beta/models/gemini:generateContent")


async def test_invalid_rows_are_rejected_whole(repo):
    with pytest.raises(ValidationError):
        await repo.insert_requests([rec(), rec(status=-1)])
    with pytest.raises(ValidationError):
        await repo.insert_requests([rec(ts=datetime(2030, 1, 1))])  # naive time
    with pytest.raises(ValidationError):
        await repo.insert_requests([rec(account_id="not-a-uuid")])
    assert await repo.recent_requests() == []
    # client-controlled strings are clipped, not rejected
    await repo.insert_requests([rec(requested_model="m" * 5000)])
    assert len((await repo.recent_requests())[0].requested_model) == 256


async def test_recent_filters_and_paging(repo):
    rows = [rec(i, status=429 if i % 4 == 0 else 200, account_id=ACC_A if i % 2 else ACC_B,
                dialect="anthropic" if i % 3 == 0 else "openai", mapped_model=f"m{i % 2}") for i in range(40)]
    rows.append(rec(39, request_id="zzz-same-ts"))  # equal timestamps page correctly too
    await repo.insert_requests(rows)
    everything = []
    before = None
    while page := await repo.recent_requests(limit=7, before=before):
        everything += page
        before = (page[-1].ts, page[-1].request_id)
    assert len(everything) == 41 and len({r.request_id for r in everything}) == 41
    assert [r.ts for r in everything] == sorted((r.ts for r in everything), reverse=True)
    assert all(r.status >= 400 for r in await repo.recent_requests(errors_only=True, limit=100))
    assert len(await repo.recent_requests(errors_only=True, limit=100)) == 10
    assert {r.account_id for r in await repo.recent_requests(account_id=ACC_B, limit=100)} == {ACC_B}
    assert len(await repo.recent_requests(dialect="anthropic", limit=100)) == 14
    assert len(await repo.recent_requests(model="m1", limit=100)) == 20
    assert len(await repo.recent_requests(since=T0 + timedelta(minutes=30), limit=100)) == 11
    with pytest.raises(ValidationError):
        await repo.recent_requests(limit=5000)


async def test_stats_by_every_dimension(repo):
    rows = (
        [rec(10, account_id=ACC_A, account_email="a@example.com", mapped_model="m1") for _ in range(3)]
        + [rec(70, account_id=ACC_B, account_email="b@example.com", mapped_model="m2", status=500) for _ in range(2)]
        + [rec(60 * 25, account_id=None, account_email=None, mapped_model=None, requested_model="raw")]
    )
    await repo.insert_requests(rows)
    since = T0 - timedelta(hours=1)

    hours = await repo.request_stats("hour", since=since)
    assert [(h.start, h.requests, h.errors) for h in hours] == [
        (T0, 3, 0), (T0 + timedelta(hours=1), 2, 2), (T0 + timedelta(hours=25), 1, 0)]
    assert hours[0].key == T0.isoformat() and hours[0].avg_latency_ms == 300 and hours[1].success_rate == 0

    days = await repo.request_stats("day", since=since)
    assert [(d.start.date().isoformat(), d.requests) for d in days] == [("2030-03-01", 5), ("2030-03-02", 1)]

    models = await repo.request_stats("model", since=since)
    assert [(m.key, m.requests) for m in models] == [("m1", 3), ("m2", 2), ("raw", 1)]

    accounts = await repo.request_stats("account", since=since)
    assert [(a.key, a.label, a.requests) for a in accounts] == [
        (ACC_A, "a@example.com", 3), (ACC_B, "b@example.com", 2), ("", "", 1)]

    window = await repo.request_stats("hour", since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))
    assert [h.requests for h in window] == [3, 2]  # whole hours: the one containing `since` is in
    with pytest.raises(ValidationError):
        await repo.request_stats("week", since=since)


async def test_token_totals_and_cache_hit_rate(repo):
    await repo.insert_requests([rec(i, tokens_in=1000, tokens_cached=250, tokens_out=10) for i in range(4)])
    t = await repo.token_totals(since=T0)
    assert (t.requests, t.tokens_in, t.tokens_cached, t.tokens_out, t.tokens_thinking) == (4, 4000, 1000, 40, 20)
    assert t.cache_hit_rate == 0.25
    empty = await repo.token_totals(since=T0 + timedelta(days=30))
    assert empty.requests == 0 and empty.cache_hit_rate is None


async def test_retention_purge(repo):
    await repo.insert_requests([rec(-60 * 24 * i) for i in range(10)])  # one per day, going back
    deleted = await repo.purge_requests(T0 - timedelta(days=5, minutes=1))
    assert deleted == 4
    remaining = await repo.recent_requests(limit=100)
    assert len(remaining) == 6 and min(r.ts for r in remaining) == T0 - timedelta(days=5)
    stats = await repo.request_stats("day", since=T0 - timedelta(days=30))
    assert sum(s.requests for s in stats) == 6


@pytest.mark.parametrize(("since_h", "until_h"), [
    (0, None), (5.5, None), (13, 61), (13.25, 61.75), (24, 48), (30, 40), (47, 49), (0, 200), (-10, 3),
])
async def test_breakdowns_match_a_brute_force_count(repo, since_h, until_h):
    """Breakdowns read whole days from the daily rollup and the edges from the hourly one: same answer."""
    day0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [rec(0, ts=day0 + timedelta(hours=h, minutes=7), account_id=[ACC_A, ACC_B, None][h % 3],
                mapped_model=f"m{h % 4}", tokens_in=h) for h in range(0, 24 * 5, 1)]
    await repo.insert_requests(rows)
    since = day0 + timedelta(hours=since_h)
    until = None if until_h is None else day0 + timedelta(hours=until_h)
    floor = since.replace(minute=0, second=0, microsecond=0)
    chosen = [r for r in rows if r.ts.replace(minute=0) >= floor and (until is None or r.ts.replace(minute=0) < until)]
    for by, key in (("model", lambda r: r.mapped_model), ("account", lambda r: r.account_id or "")):
        expected: dict[str, tuple[int, int]] = {}
        for r in chosen:
            n, t = expected.get(key(r), (0, 0))
            expected[key(r)] = (n + 1, t + r.tokens_in)
        got = {s.key: (s.requests, s.tokens_in) for s in await repo.request_stats(by, since=since, until=until)}
        assert got == expected, by


async def test_retention_round(repo):
    from antigravityd.store.retention import purge_once

    now = datetime.now(UTC)
    await repo.insert_requests([rec(0, ts=now - timedelta(days=d)) for d in (1, 29, 31, 90)])
    await repo.put_signature("content", "h", "sig", "claude")
    result = await purge_once(repo, request_days=30, now=now + timedelta(days=8))
    assert result.requests == 3 and result.signatures == {"tool_call": 0, "content": 1, "session": 0}
    assert len(await repo.recent_requests()) == 1
