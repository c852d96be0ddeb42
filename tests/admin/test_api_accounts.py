"""``/api/accounts*`` and ``/api/events`` over real HTTP against the daemon, with accounts in its own store."""

from __future__ import annotations

import uuid

import pytest

from tests.admin.harness import client, in_store, seed_account, wait_until

UNKNOWN = str(uuid.uuid4())


def routed(c, account_id: str) -> dict:
    return wait_until(lambda: (r := c.get(f"/api/accounts/{account_id}").json()).get("routed") and r,
                      what="the pool to load the account")


def test_listing_merges_store_and_routing_view(admin_daemon):
    a = seed_account(admin_daemon, "list-a@example.com", tier="g1-ultra-tier", name="Alice",
                     quota={"gemini-3-flash": (0.42, 3600), "claude-sonnet-4-6": (1.0, None)},
                     proxy_url="socks5://bob:hunter2@10.0.0.7:1080")
    with client(admin_daemon) as c:
        row = routed(c, a.id)
        listing = c.get("/api/accounts").json()
    assert any(r["id"] == a.id for r in listing["accounts"])
    assert listing["total"] >= 1 and listing["usable"] >= 1
    assert row["email"] == "list-a@example.com" and row["name"] == "Alice"
    assert row["tier"] == "ultra" and row["tier_id"] == "g1-ultra-tier"
    assert row["status"] == "idle" and not any(row["flags"].values())
    flash = row["quota"]["models"]["gemini-3-flash"]
    assert flash["percent"] == 42 and flash["reset_time"].endswith("Z") and flash["reset_at"] > 0
    assert row["quota"]["models"]["claude-sonnet-4-6"]["reset_at"] is None
    assert row["in_flight"] == 0 and row["max_in_flight"] == 5
    assert row["health"] == 1.0 and row["circuit"] == "closed" and "usage_ratio" in row["aimd"]
    assert row["project_id"] == "project-list-a" and row["lockouts"] == []
    # The proxy password never leaves the store; host and port do.
    assert row["proxy_url"] == "socks5://***@10.0.0.7:1080"


def test_patch_proxy_disabled_with_reason_applies_to_the_pool_at_once(admin_daemon):
    a = seed_account(admin_daemon, "patch-a@example.com")
    with client(admin_daemon) as c:
        routed(c, a.id)
        r = c.patch(f"/api/accounts/{a.id}", json={"proxy_disabled": True, "reason": "shared with a colleague"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["proxy_disabled"] and body["proxy_disabled_reason"] == "shared with a colleague"
        assert body["status"] == "proxy_disabled" and body["proxy_disabled_at"]
        # The pool already routes by it: the health view marks the account unusable without waiting for a reload.
        health = {h["id"]: h for h in c.get("/api/resilience/health").json()["accounts"]}
        assert health[a.id]["usable"] is False
        events = c.get(f"/api/accounts/{a.id}/events").json()["events"]
        assert events[0]["kind"] == "account_disabled"
        assert events[0]["details"] == {"scope": "proxy", "reason": "shared with a colleague"}

        r = c.patch(f"/api/accounts/{a.id}", json={"proxy_disabled": False})
        assert r.status_code == 200 and r.json()["proxy_disabled"] is False
        assert r.json()["proxy_disabled_reason"] is None
        health = {h["id"]: h for h in c.get("/api/resilience/health").json()["accounts"]}
        assert health[a.id]["usable"] is True
        assert c.get(f"/api/accounts/{a.id}/events").json()["events"][0]["kind"] == "account_enabled"


def test_patch_name_and_disable(admin_daemon):
    a = seed_account(admin_daemon, "patch-b@example.com")
    with client(admin_daemon) as c:
        r = c.patch(f"/api/accounts/{a.id}", json={"name": "Work", "disabled": True, "reason": "left the team"})
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Work" and r.json()["disabled"] and r.json()["disabled_reason"] == "left the team"
        assert r.json()["status"] == "disabled"
        assert c.get("/api/status").json()["accounts"]["disabled"] >= 1
        r = c.patch(f"/api/accounts/{a.id}", json={"disabled": False, "name": None})
        assert r.json()["disabled"] is False and r.json()["name"] is None


def test_delete_removes_from_store_and_pool_and_keeps_the_audit_trail(admin_daemon):
    a = seed_account(admin_daemon, "delete-me@example.com")
    with client(admin_daemon) as c:
        routed(c, a.id)
        r = c.delete(f"/api/accounts/{a.id}")
        assert r.status_code == 200 and r.json() == {"deleted": a.id, "email": "delete-me@example.com"}
        assert c.get(f"/api/accounts/{a.id}").status_code == 404
        assert a.id not in {h["id"] for h in c.get("/api/resilience/health").json()["accounts"]}
        assert c.delete(f"/api/accounts/{a.id}").status_code == 404
        trail = c.get("/api/events", params={"account": "delete-me@example.com"}).json()["events"]
        assert [e["kind"] for e in trail][:1] == ["account_deleted"]
        assert trail[0]["account_id"] is None  # the event outlives the account


def test_events_paging(admin_daemon):
    a = seed_account(admin_daemon, "events@example.com")

    async def churn(repo):
        for i in range(7):
            await repo.update_account(a.id, name=f"name {i}")

    in_store(admin_daemon, churn)
    with client(admin_daemon) as c:
        first = c.get(f"/api/accounts/{a.id}/events", params={"limit": 3}).json()
        assert len(first["events"]) == 3 and first["next_before"] == first["events"][-1]["id"]
        second = c.get(f"/api/accounts/{a.id}/events", params={"limit": 3, "before": first["next_before"]}).json()
        ids = [e["id"] for e in first["events"] + second["events"]]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6
        everything = c.get(f"/api/accounts/{a.id}/events", params={"limit": 500}).json()
        assert everything["next_before"] is None and len(everything["events"]) == 8  # created + 7 updates
        kinds = c.get("/api/events", params={"kind": "account_created", "limit": 500}).json()["events"]
        assert kinds and {e["kind"] for e in kinds} == {"account_created"}


@pytest.mark.parametrize(("method", "path", "body", "status", "needle"), [
    ("GET", "/api/accounts/not-a-uuid", None, 400, "malformed account id"),
    ("GET", f"/api/accounts/{UNKNOWN}", None, 404, "no account"),
    ("PATCH", "/api/accounts/12345", {"name": "x"}, 400, "malformed account id"),
    ("PATCH", f"/api/accounts/{UNKNOWN}", {"name": "x"}, 404, "no account"),
    ("DELETE", "/api/accounts/..%2f..%2fetc", None, 400, "malformed account id"),
    ("DELETE", f"/api/accounts/{UNKNOWN}", None, 404, "no account"),
    ("GET", f"/api/accounts/{UNKNOWN}/events", None, 404, "no account"),
    ("GET", "/api/accounts/nope/events", None, 400, "malformed"),
    ("GET", "/api/events?limit=0", None, 400, "limit"),
    ("GET", "/api/events?limit=abc", None, 400, "limit"),
    ("GET", "/api/events?kind=bogus", None, 400, "unknown event kind"),
    ("GET", "/api/events?account=not-an-id", None, 400, "account"),
])
def test_bad_references(admin_daemon, method, path, body, status, needle):
    with client(admin_daemon) as c:
        r = c.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]


@pytest.mark.parametrize(("body", "needle"), [
    (b"", "JSON object body is required"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{}", "nothing to change"),
    (b'{"reason": "x"}', "nothing to change"),
    (b'{"proxy_disabled": "yes"}', "proxy_disabled must be true or false"),
    (b'{"disabled": 1}', "disabled must be true or false"),
    (b'{"name": 42}', "name must be a string"),
    (b'{"email": "x@y.z"}', "unknown field(s) email"),
    (b'{"proxy_disabled": true, "reason": 5}', "reason must be a string"),
    (b'{"name": "' + b"n" * 300 + b'"}', "longer than 256"),
])
def test_patch_validation(admin_daemon, body, needle):
    a = seed_account(admin_daemon, f"v-{uuid.uuid4().hex[:8]}@example.com")
    with client(admin_daemon) as c:
        r = c.patch(f"/api/accounts/{a.id}", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert needle in r.json()["error"]["message"]
        # Nothing was half-applied.
        after = c.get(f"/api/accounts/{a.id}").json()
        assert not after["proxy_disabled"] and not after["disabled"] and after["name"] is None


def test_verification_badge_carries_the_link(admin_daemon):
    a = seed_account(admin_daemon, "verify@example.com")

    async def flag(repo):
        await repo.mark_verification_required(a.id, detail_url="https://accounts.google.com/signin/continue?x=1")

    in_store(admin_daemon, flag)
    with client(admin_daemon) as c:
        row = wait_until(lambda: (r := c.get(f"/api/accounts/{a.id}").json())["flags"]["verification_required"]
                         and r, what="verification flag")
    assert row["status"] == "verification_required"
    assert row["verification_url"] == "https://accounts.google.com/signin/continue?x=1"
