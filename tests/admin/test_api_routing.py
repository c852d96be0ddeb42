"""Resilience views, lockout clearing and sticky bindings: the real pool is driven the way the pipeline drives it
(outcomes reported on accounts), and the admin API is called over loopback HTTP."""

from __future__ import annotations

import time
import uuid

import trio

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.store import AccountDraft
from tests.admin.inproc import in_process_daemon


async def seed(services, *emails: str) -> list[str]:
    ids = []
    for i, email in enumerate(emails):
        result = await services.repo.upsert_account(AccountDraft(
            email=email, refresh_token=f"1//r-{uuid.uuid4().hex}", access_token=f"ya29.a-{uuid.uuid4().hex}",
            expires_at=time.time() + 86400, project_id=f"proj-{i}", project_source="upstream", tier="g1-pro-tier"))
        ids.append(result.account.id)
    await services.registry.reload()
    return ids


def fail(services, account_id: str, kind: FailureKind, *, model: str | None = "gemini-3-flash", **kw) -> None:
    services.pool.report_failure(account_id, Failure(kind, **kw), model=model, now=trio.current_time(),
                                 wall=time.time())


async def test_lockouts_show_and_clear(tmp_path):
    async with in_process_daemon(tmp_path / "data") as d:
        a, b = await seed(d.services, "a@example.com", "b@example.com")
        fail(d.services, a, FailureKind.RATE_LIMITED, retry_after=120, reason="RATE_LIMIT_EXCEEDED")
        fail(d.services, b, FailureKind.QUOTA_EXHAUSTED, retry_after=600)
        rows = {r["id"]: r for r in (await d.http.get("/api/accounts")).json()["accounts"]}
        lock = rows[a]["lockouts"][0]
        assert rows[a]["flags"]["locked"] and rows[a]["status"] == "locked"
        assert lock["model"] == "gemini-3-flash" and lock["reason"] and 100 < lock["remaining"] <= 120
        assert lock["until_time"].endswith("Z")
        assert rows[b]["lockouts"]

        r = await d.http.delete(f"/api/proxy/rate-limits/{a}")
        assert r.status_code == 200 and r.json()["cleared"] >= 1
        rows = {r["id"]: r for r in (await d.http.get("/api/accounts")).json()["accounts"]}
        assert rows[a]["lockouts"] == [] and rows[b]["lockouts"]

        r = await d.http.delete("/api/proxy/rate-limits")
        assert r.status_code == 200 and r.json()["cleared"] >= 1
        rows = {r["id"]: r for r in (await d.http.get("/api/accounts")).json()["accounts"]}
        assert rows[b]["lockouts"] == []

        assert (await d.http.delete("/api/proxy/rate-limits/not-a-uuid")).status_code == 400
        assert (await d.http.delete(f"/api/proxy/rate-limits/{uuid.uuid4()}")).status_code == 404


async def test_health_circuits_and_aimd_views(tmp_path):
    async with in_process_daemon(tmp_path / "data", {"routing.circuit_failure_threshold": 2}) as d:
        a, b = await seed(d.services, "a@example.com", "b@example.com")
        for _ in range(2):
            fail(d.services, a, FailureKind.SERVER_ERROR)
        fail(d.services, b, FailureKind.RATE_LIMITED)

        circuits = (await d.http.get("/api/resilience/circuits")).json()
        states = {c["id"]: c for c in circuits["accounts"]}
        assert states[a]["state"] == "open" and states[a]["opens_for"] > 0 and states[b]["state"] == "closed"
        assert circuits["counts"] == {"closed": 1, "open": 1, "half_open": 0}

        health = (await d.http.get("/api/resilience/health")).json()
        by_id = {h["id"]: h for h in health["accounts"]}
        assert by_id[a]["score"] < 1.0 and by_id[a]["circuit"] == "open" and not by_id[a]["healthy"]
        assert by_id[a]["total_failures"] == 2
        assert health["usable_accounts"] == 2 and health["overall_healthy"] in (True, False)

        aimd = (await d.http.get("/api/resilience/aimd")).json()
        assert aimd["tracked_accounts"] == 2 and aimd["max_usage_ratio"] == 1.2
        assert {x["id"]: x for x in aimd["accounts"]}[b]["penalties"] == 1


async def test_clear_sticky_bindings(tmp_path):
    async with in_process_daemon(tmp_path / "data") as d:
        a, _ = await seed(d.services, "a@example.com", "b@example.com")
        d.services.pool.sessions.bind("session-1", a)
        d.services.pool.sessions.bind("session-2", a)
        assert (await d.http.get(f"/api/accounts/{a}")).json()["session_bindings"] == 2
        r = await d.http.post("/api/proxy/clear-bindings")
        assert r.status_code == 200 and r.json() == {"cleared": 2}
        assert (await d.http.get(f"/api/accounts/{a}")).json()["session_bindings"] == 0
        assert d.services.pool.sessions.get("session-1") is None
