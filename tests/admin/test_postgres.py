"""The admin API on PostgreSQL: the same endpoints over HTTP with the production backend (accounts, events,
monitor statistics, mappings with tombstones and their garbage collection, a sync round between two instances
that do not share a database)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from antigravityd.store import AccountDraft
from antigravityd.sync.lww import MappingSync
from tests.admin.harness import request_row
from tests.admin.inproc import in_process_daemon
from tests.support import pg
from tests.support.daemon import TEST_API_KEY

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_urls():
    if not pg.local_server_available():
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432")
    urls = [pg.create_database(pg.LOCAL_DSN), pg.create_database(pg.LOCAL_DSN)]
    yield urls
    for url in urls:
        pg.drop_database(pg.LOCAL_DSN, url)


async def test_admin_api_on_postgres(pg_urls, tmp_path):
    async with in_process_daemon(tmp_path / "a", {"database.url": pg_urls[0]}) as a, \
            in_process_daemon(tmp_path / "b", {"database.url": pg_urls[1]}) as b:
        assert (await a.http.get("/api/status")).json()["backend"] == "postgres"
        created = await a.services.repo.upsert_account(AccountDraft(
            email="pg@example.com", refresh_token=f"1//pg-{uuid.uuid4().hex}", access_token="ya29.pg",
            expires_at=time.time() + 86400, project_id="pg-proj", project_source="upstream", tier="g1-pro-tier"))
        account_id = created.account.id
        await a.services.registry.reload()
        r = await a.http.patch(f"/api/accounts/{account_id}", json={"proxy_disabled": True, "reason": "pg check"})
        assert r.status_code == 200 and r.json()["proxy_disabled_reason"] == "pg check"
        events = (await a.http.get(f"/api/accounts/{account_id}/events")).json()["events"]
        assert [e["kind"] for e in events] == ["account_disabled", "account_created"]

        alice = type("A", (), {"id": account_id, "email": "pg@example.com"})
        await a.services.repo.insert_requests([request_row(account=alice, status=s, tokens_cached=50)
                                               for s in (200, 200, 500)])
        tokens = (await a.http.get("/api/monitor/tokens")).json()
        assert tokens["requests"] == 3 and tokens["errors"] == 1 and tokens["cache_hit_rate"] == 0.5
        page = (await a.http.get("/api/monitor/requests", params={"limit": 2})).json()
        rest = (await a.http.get("/api/monitor/requests", params={"limit": 2, "before": page["next_before"]})).json()
        assert len({r["request_id"] for r in page["requests"] + rest["requests"]}) == 3

        # Mappings: edit on A, tombstone on B, one sync round between the two databases over HTTP.
        assert (await a.http.put("/api/mappings/pg-a", json={"target": "gemini-3-flash"})).status_code == 200
        assert (await b.http.put("/api/mappings/pg-b", json={"target": "gemini-3-flash"})).status_code == 200
        assert (await b.http.delete("/api/mappings/pg-b")).status_code == 200
        sync = MappingSync(a.services.repo, remote=b.url, api_key=TEST_API_KEY, instance_id="a")
        async with httpx.AsyncClient(timeout=10) as http:
            result = await sync.sync_once(http)
        assert (result.pulled, result.pushed) == (1, 1)
        for side in (a, b):
            entries = (await side.http.get("/api/config/mapping")).json()["entries"]
            assert entries["pg-a"]["target"] == "gemini-3-flash" and entries["pg-b"]["deleted"] is True
        # Garbage collection forgets tombstones older than the horizon, nothing else.
        purged = await b.services.repo.purge_mapping_tombstones(int(datetime.now(UTC).timestamp() * 1000) + 1)
        assert purged == 1
        keys = {m["key"] for m in (await b.http.get("/api/mappings?include_deleted=1")).json()["mappings"]}
        assert keys == {"pg-a"}
