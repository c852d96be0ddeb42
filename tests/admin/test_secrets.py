"""No secret in any admin response: plant refresh and access tokens, a proxy password, the OAuth client secret, a
sync-remote password and the API key, then fetch every admin GET endpoint (and the UI files, and the error
answers) and grep each body and header for them."""

from __future__ import annotations

import httpx

from tests.admin.harness import (
    client,
    in_store,
    request_row,
    seed_account,
    seed_requests,
    start_admin_daemon,
    wait_until,
)


def test_no_secret_in_any_admin_response(fake, workdir):
    d = start_admin_daemon(workdir / "d", fake, settings={
        "sync.remote": "http://syncuser:sync-pass-4242@127.0.0.1:9", "sync.interval": 5.0,
        "database.replica_url": "postgresql://reader:replica-pass-777@127.0.0.1:1/x",
    })
    try:
        a = seed_account(d, "secret-a@example.com", refresh_token="1//0gPLANTED-REFRESH-abc",
                         access_token="ya29.PLANTED-ACCESS-xyz", proxy_url="http://puser:proxy-pass-99@10.1.1.1:3128",
                         quota={"gemini-3-flash": (0.5, 600)})
        b = seed_account(d, "secret-b@example.com")

        async def flag(repo):
            await repo.set_proxy_disabled(b.id, True, "token 1//0gREASON-LEAK-qq was refused; Bearer ya29.REASONLEAK")
            await repo.set_mapping("secret-map", "gemini-3-flash")

        in_store(d, flag)
        seed_requests(d, [request_row(account=a, path="/v1beta/models/x:generateContent?key=PLANTED-QUERY-KEY")])
        planted = ["1//0gPLANTED-REFRESH-abc", "ya29.PLANTED-ACCESS-xyz", "proxy-pass-99", "sync-pass-4242",
                   "replica-pass-777", fake.info["client_secret"], d.api_key, b.refresh_token, b.access_token,
                   "1//0gREASON-LEAK-qq", "ya29.REASONLEAK", "PLANTED-QUERY-KEY", "puser"]

        with client(d) as c:
            wait_until(lambda: c.get(f"/api/accounts/{a.id}").json()["routed"], what="account routed")
            wait_until(lambda: c.get("/api/status").json()["sync"]["failures"] >= 1, what="a failed sync round")
            paths = ["/api/status", "/api/config", "/api/accounts", f"/api/accounts/{a.id}", f"/api/accounts/{b.id}",
                     f"/api/accounts/{a.id}/events", f"/api/accounts/{b.id}/events", "/api/events?limit=500",
                     "/api/resilience/health", "/api/resilience/circuits", "/api/resilience/aimd",
                     "/api/monitor/requests", "/api/monitor/stats?by=hour", "/api/monitor/stats?by=model",
                     "/api/monitor/stats?by=account", "/api/monitor/tokens", "/api/mappings?include_deleted=1",
                     "/api/config/mapping", "/", "/ui/app.js", "/ui/api.js", "/ui/pages/settings.js",
                     "/api/accounts/not-a-uuid", "/api/nothing-here"]
            answers = [c.get(p) for p in paths]
            answers.append(c.patch(f"/api/accounts/{a.id}", json={"name": "x", "reason": "y"}))
            answers.append(c.post("/api/mappings/test", json={"model": "secret-map"}))
        with httpx.Client(base_url=d.url, timeout=10) as anonymous:
            answers.append(anonymous.get("/api/accounts", headers={"authorization": "Bearer 1//0gPLANTED-REFRESH-abc"}))

        for r in answers:
            assert r.status_code < 500, (r.request.url, r.text)
            text = r.text + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
            for secret in planted:
                assert secret not in text, f"{secret!r} leaked by {r.request.method} {r.request.url.path}"
        # The masked values are still recognisable for an operator.
        settings = {s["key"]: s["value"] for s in answers[1].json()["settings"]}
        assert settings["sync.remote"] == "http://********@127.0.0.1:9"
        assert settings["database.replica_url"] == "postgresql://reader:********@127.0.0.1:1/x"
        assert answers[3].json()["proxy_url"] == "http://***@10.1.1.1:3128"
        assert "[redacted]" in answers[4].json()["proxy_disabled_reason"]
        assert answers[0].json()["sync"]["remote"] == "http://127.0.0.1:9"
    finally:
        d.close()
