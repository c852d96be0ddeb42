"""``/api/monitor/*`` over real HTTP: the request log written into the daemon's store, read back with filters,
cursors and statistics. Each test uses its own daemon so that the counts are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.admin.harness import client, request_row, seed_account, seed_requests, start_admin_daemon


@pytest.fixture(scope="module")
def monitored(fake, tmp_path_factory):
    d = start_admin_daemon(tmp_path_factory.mktemp("monitor") / "daemon", fake)
    try:
        alice = seed_account(d, "alice@example.com")
        bob = seed_account(d, "bob@example.com")
        now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
        rows = []
        for i in range(30):  # three hours ago, 10 per hour
            hour = now - timedelta(hours=3 - i // 10)
            rows.append(request_row(ts=hour + timedelta(seconds=i), account=alice if i % 3 else bob,
                                    model="gemini-3-flash" if i % 2 else "claude-sonnet-4-6",
                                    status=429 if i % 10 == 0 else 200, dialect="anthropic" if i % 5 == 0 else "openai",
                                    tokens_in=100, tokens_out=10, tokens_cached=25, request_id=f"req-{i:03d}"))
        # Same timestamp, different ids: the cursor must still page through both without loss or repeat.
        twin_ts = now - timedelta(hours=1)
        rows += [request_row(ts=twin_ts, account=alice, request_id=f"twin-{c}") for c in "ab"]
        assert seed_requests(d, rows) == 32
        yield d, alice, bob
    finally:
        d.close()


def test_recent_requests_newest_first_with_cursor_paging(monitored):
    d, _, _ = monitored
    with client(d) as c:
        seen, cursor = [], None
        while True:
            params = {"limit": 7, **({"before": cursor} if cursor else {})}
            page = c.get("/api/monitor/requests", params=params).json()
            assert page["content_recorded"] is False and "never recorded" in page["note"]
            seen += page["requests"]
            cursor = page["next_before"]
            if cursor is None:
                break
    ids = [r["request_id"] for r in seen]
    assert len(ids) == 32 and len(set(ids)) == 32
    stamps = [r["ts_ms"] for r in seen]
    assert stamps == sorted(stamps, reverse=True)
    row = next(r for r in seen if r["request_id"] == "req-001")
    assert set(row) >= {"ts", "dialect", "path", "status", "requested_model", "mapped_model", "account_email",
                        "tokens_in", "tokens_out", "tokens_cached", "latency_ms", "stream", "error_class"}
    assert "prompt" not in row and "body" not in row


def test_filters(monitored):
    d, alice, bob = monitored
    with client(d) as c:
        def ids(**params):
            return {r["request_id"] for r in c.get("/api/monitor/requests", params={"limit": 1000, **params})
                    .json()["requests"]}

        assert ids(errors_only="true") == {"req-000", "req-010", "req-020"}
        assert ids(dialect="anthropic") == {f"req-{i:03d}" for i in range(0, 30, 5)}
        assert ids(model="claude-sonnet-4-6") == {f"req-{i:03d}" for i in range(0, 30, 2)}
        assert ids(account=bob.id) == {f"req-{i:03d}" for i in range(0, 30, 3)}
        assert ids(account="bob@example.com") == ids(account=bob.id)
        assert ids(account=alice.id, errors_only="1") == {"req-010", "req-020"}
        recent = ids(since="90m")
        assert {"twin-a", "twin-b"} <= recent and "req-000" not in recent


def test_stats_by_hour_model_account_and_token_totals(monitored):
    d, alice, bob = monitored
    with client(d) as c:
        hours = c.get("/api/monitor/stats", params={"by": "hour"}).json()
        assert hours["by"] == "hour" and [r["requests"] for r in hours["rows"]] == [10, 10, 12]
        assert [r["errors"] for r in hours["rows"]] == [1, 1, 1]
        assert all(r["start"].endswith(":00:00Z") for r in hours["rows"])
        models = {r["key"]: r for r in c.get("/api/monitor/stats", params={"by": "model"}).json()["rows"]}
        assert models["gemini-3-flash"]["requests"] == 17 and models["claude-sonnet-4-6"]["requests"] == 15
        accounts = {r["key"]: r for r in c.get("/api/monitor/stats", params={"by": "account"}).json()["rows"]}
        assert accounts[bob.id]["requests"] == 10 and accounts[bob.id]["label"] == "bob@example.com"
        assert accounts[alice.id]["requests"] == 22
        assert c.get("/api/monitor/stats", params={"by": "day", "since": "7d"}).json()["rows"][-1]["requests"] >= 12
        tokens = c.get("/api/monitor/tokens").json()
        assert tokens["requests"] == 32 and tokens["errors"] == 3
        assert tokens["tokens_in"] == 32 * 100 and tokens["tokens_cached"] == 30 * 25
        assert tokens["cache_hit_rate"] == round(30 * 25 / (32 * 100), 4)
        this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # rollups are whole hours
        narrow = c.get("/api/monitor/tokens", params={"since": this_hour.isoformat()}).json()
        assert narrow["requests"] == 0 and narrow["cache_hit_rate"] is None


@pytest.mark.parametrize(("path", "needle"), [
    ("/api/monitor/requests?limit=0", "limit"),
    ("/api/monitor/requests?limit=5000", "limit"),
    ("/api/monitor/requests?before=garbage", "cursor"),
    ("/api/monitor/requests?errors_only=maybe", "errors_only"),
    ("/api/monitor/requests?account=nobody", "account"),
    ("/api/monitor/requests?since=yesterday", "since"),
    ("/api/monitor/stats?by=week", "by must be"),
    ("/api/monitor/stats?since=2026-01-01T00:00:00", "since"),
    ("/api/monitor/stats?since=2h&until=3h", "until must be after since"),
    ("/api/monitor/tokens?since=-5", "since"),
])
def test_monitor_validation(monitored, path, needle):
    d, _, _ = monitored
    with client(d) as c:
        r = c.get(path)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"]


def test_unknown_account_email_is_404(monitored):
    d, _, _ = monitored
    with client(d) as c:
        assert c.get("/api/monitor/requests", params={"account": "ghost@example.com"}).status_code == 404
