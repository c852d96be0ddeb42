"""The lifecycle admin routes over real HTTP: browser sign-in through the fake's consent redirect, code paste,
add-by-token, quota refresh and warmup — behind the real auth gate."""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from tests.lifecycle.conftest import serve_admin


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def api(world):
    world.fake.state.default_login_email = "browser@example.com"
    async with serve_admin(world) as client:
        yield client


@pytest.fixture
async def browser():
    """A browser: follows redirects, holds no admin key."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=20) as client:
        yield client


async def start(api) -> dict:
    r = await api.get("/api/oauth/url")
    assert r.status_code == 200
    return r.json()


async def test_browser_sign_in_end_to_end(api, browser, world, repo):
    doc = await start(api)
    assert doc["redirect_uri"] == f"{api.base_url}/api/oauth/callback"  # the admin's loopback address
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(doc["url"]).query))
    assert query["state"] == doc["state"] and query["code_challenge_method"] == "S256"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"

    page = await browser.get(doc["url"])  # consent → 302 to our callback → HTML
    assert page.status_code == 200 and page.history[0].status_code == 302
    assert "Authorization Successful" in page.text and "browser@example.com" in page.text
    assert page.headers["content-type"].startswith("text/html") and page.headers["cache-control"] == "no-store"
    account = await repo.get_account_by_email("browser@example.com")
    assert (await repo.get_quota(account.id)).models  # project discovered and quota fetched at once
    assert world.pool.get(account.id).usable

    replay = await browser.get(str(page.url))  # the same callback again: the state was single-use
    assert replay.status_code == 400 and "Invalid State Token" in replay.text


async def test_callback_failures(api, browser, world):
    r = await browser.get(f"{api.base_url}/api/oauth/callback?code=4/abc")
    assert r.status_code == 400 and "Missing State Token" in r.text
    r = await browser.get(f"{api.base_url}/api/oauth/callback?state=forged&code=4/abc")
    assert r.status_code == 400 and "Invalid State Token" in r.text and "accounts login" in r.text

    clock = Tick()
    world.onboarding.logins.clock = clock
    doc = await start(api)
    clock.t += 601
    r = await browser.get(doc["url"])
    assert r.status_code == 400 and "expired" in r.text

    world.fake.deny_next_login = True
    r = await browser.get((await start(api))["url"])
    assert r.status_code == 400 and "Authorization Failed" in r.text and "access_denied" in r.text

    doc = await start(api)
    evil = "<script>alert(1)</script>"
    r = await browser.get(f"{api.base_url}/api/oauth/callback",
                          params={"state": doc["state"], "error": evil})
    assert r.status_code == 400 and evil not in r.text and "&lt;script&gt;" in r.text

    doc = await start(api)
    r = await browser.get(f"{api.base_url}/api/oauth/callback", params={"state": doc["state"]})
    assert r.status_code == 400 and "Missing Authorization Code" in r.text


async def test_no_refresh_token_tells_the_user_to_revoke(api, browser, world):
    world.fake.inject("custom", rpcs="token", status=200,
                      body={"access_token": "ya29.fake-no-refresh", "expires_in": 3599, "token_type": "Bearer"})
    r = await browser.get((await start(api))["url"])
    assert r.status_code == 400 and "No Refresh Token" in r.text
    assert "myaccount.google.com/permissions" in r.text


async def test_exchange_failure_page(api, browser, world):
    world.fake.inject("server_error", rpcs="token")
    r = await browser.get((await start(api))["url"])
    assert r.status_code == 502 and "Token Exchange Failed" in r.text


async def test_code_paste_for_headless_servers(api, world, repo):
    async with httpx.AsyncClient(timeout=20) as browser:  # the redirect target is unreachable: stop at the 302
        location = (await browser.get((await start(api))["url"])).headers["location"]
        r = await api.post("/api/oauth/submit-code", json={"callback_url": location})
        assert r.status_code == 200, r.text
        assert r.json()["email"] == "browser@example.com" and r.json()["created"] is True
        assert (await repo.get_account(r.json()["account_id"])).email == "browser@example.com"
        r = await api.post("/api/oauth/submit-code", json={"callback_url": location})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"

        doc = await start(api)
        location = (await browser.get(doc["url"])).headers["location"]
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]
        other = await start(api)
        r = await api.post("/api/oauth/submit-code", json={"state": other["state"], "callback_url": location})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
        r = await api.post("/api/oauth/submit-code", json={"code": code})
        assert r.status_code == 400 and r.json()["error"]["code"] == "missing_state"
        r = await api.post("/api/oauth/submit-code", json={"state": doc["state"], "code": code})
        assert r.status_code == 200 and r.json()["created"] is False  # same Google account: an upsert


async def test_redirect_uri_choice(world):
    async with serve_admin(world, redirect_base="https://agd.example.com/") as api:
        assert (await start(api))["redirect_uri"] == "https://agd.example.com/api/oauth/callback"
    async with serve_admin(world) as api:
        r = await api.get("/api/oauth/url", headers={"host": "evil.example.com"})
        assert r.json()["redirect_uri"] == f"{api.base_url}/api/oauth/callback"  # not the Host header's
        r = await api.get("/api/oauth/url", headers={"host": "localhost:9999"})
        assert r.json()["redirect_uri"] == "http://localhost:9999/api/oauth/callback"


async def test_admin_key_required_except_for_the_callback(api):
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=20) as anonymous:
        for method, path in (("GET", "/api/oauth/url"), ("POST", "/api/oauth/submit-code"),
                             ("POST", "/api/accounts/add-by-token"), ("POST", "/api/accounts/warmup-all"),
                             ("POST", "/api/accounts/refresh-all-quotas")):
            assert (await anonymous.request(method, path)).status_code == 401
        assert (await anonymous.get("/api/oauth/callback")).status_code == 400  # reached: public


async def test_add_by_token_over_http(api, world):
    good = world.fake.add_account("good@example.com")
    revoked = world.fake.add_account("revoked@example.com")
    world.fake.revoke(revoked.refresh_token)
    r = await api.post("/api/accounts/add-by-token", json={"refresh_tokens": [good.refresh_token,
                                                                             revoked.refresh_token]})
    assert r.status_code == 200
    assert [(a["email"], a["created"]) for a in r.json()["added"]] == [("good@example.com", True)]
    assert r.json()["failed"][0]["hint"] == "…" + revoked.refresh_token[-4:]
    assert good.refresh_token not in r.text and revoked.refresh_token not in r.text

    r = await api.post("/api/accounts/add-by-token", json={"refresh_tokens": [revoked.refresh_token]})
    assert r.status_code == 400 and r.json()["failed"][0]["code"] == "invalid_grant"
    for body, code in ((b"{", "invalid_json"), (b"[]", "invalid_json"), (b'{"refresh_tokens": "1//x"}', None),
                       (b'{"refresh_tokens": []}', None), (b'{"refresh_tokens": ["a"], "proxy_url": "ftp://x"}', None)):
        r = await api.post("/api/accounts/add-by-token", content=body)
        assert r.status_code == 400, body
        assert set(r.json()["error"]) == {"message", "type", "code"}
        assert code is None or r.json()["error"]["code"] == code
    r = await api.post("/api/accounts/add-by-token", json={"refresh_tokens": [f"1//t{i:020d}" for i in range(101)]})
    assert r.status_code == 400 and "at most 100" in r.json()["error"]["message"]


async def test_quota_and_warmup_routes(api, world, repo):
    a = await world.add("a@example.com")
    b = await world.add("b@example.com")
    await repo.set_disabled(b, "disabled by operator")
    r = await api.post(f"/api/accounts/{a}/refresh-quota")
    assert r.status_code == 200 and r.json()["account_id"] == a and r.json()["models"]["gemini-3-flash"]["percent"]
    for path, status in ((f"/api/accounts/{b}/refresh-quota", 409), ("/api/accounts/nope/refresh-quota", 400),
                         ("/api/accounts/00000000-0000-4000-8000-000000000000/refresh-quota", 404),
                         ("/api/accounts/nope/warmup", 400), (f"/api/accounts/{b}/warmup", 409)):
        r = await api.post(path)
        assert r.status_code == status, (path, r.text)
        assert r.json()["error"]["type"] and r.json()["error"]["code"]

    r = await api.post("/api/accounts/refresh-all-quotas")
    assert r.status_code == 200 and (r.json()["total"], r.json()["success"]) == (1, 1)

    r = await api.post(f"/api/accounts/{a}/warmup")
    assert r.status_code == 200 and set(r.json()["warmed"]) == set(world.config.warmup.models) & set(
        world.pool.get(a).percents)
    warmed = world.fake.stats.count("a@example.com", "generateContent")
    assert warmed == len(r.json()["warmed"]) > 0
    r = await api.post("/api/accounts/warmup-all")
    assert r.status_code == 200 and r.json()["warmed"] == 0  # everything just warmed is below 100 % now

    world.fake.inject("server_error", rpcs="fetchAvailableModels")
    r = await api.post(f"/api/accounts/{a}/refresh-quota")
    assert r.status_code == 502 and r.json()["error"]["code"] == "server_error"


async def test_no_token_reaches_a_log_line(api, browser, world, caplog):
    caplog.set_level("DEBUG")
    good = world.fake.add_account("logs@example.com", rotate_refresh_every=1)
    revoked = world.fake.add_account("revoked.logs@example.com")
    world.fake.revoke(revoked.refresh_token)
    await api.post("/api/accounts/add-by-token", json={"refresh_tokens": [good.refresh_token, revoked.refresh_token]})
    page = await browser.get((await start(api))["url"])
    assert page.status_code == 200
    account = await world.repo.get_account_by_email("logs@example.com")
    world.fake.inject("unauthenticated", account="logs@example.com", rpcs="*")
    await api.post(f"/api/accounts/{account.id}/refresh-quota")
    await api.post(f"/api/accounts/{account.id}/warmup")
    world.fake.inject("server_error", rpcs="generateContent", times=None)
    world.clock.advance(world.config.warmup.cooldown)
    await world.warmer.warm_due()

    ours = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records if r.name.startswith("antigravityd"))
    assert "logs@example.com" in ours  # the logs say what happened, by account
    state = world.fake.state
    secrets = [*state.refresh_tokens, *state.access_tokens, *state.codes, world.fake.client_secret,
               good.refresh_token, revoked.refresh_token]
    assert secrets and not [s for s in secrets if s in ours]
    for record in world.fake.requests:
        if record.rpc == "token" and "code" in (record.body or {}):
            assert record.body["code"] not in ours


def test_local_base():
    from antigravityd.api.accounts_lifecycle import local_base

    assert local_base("127.0.0.1", 8045) == "http://127.0.0.1:8045"
    assert local_base("0.0.0.0", 1) == "http://127.0.0.1:1"
    assert local_base("::", 2) == "http://127.0.0.1:2"  # dual-stack: IPv4 loopback answers too
    assert local_base("::1", 3) == "http://[::1]:3"
    assert local_base("localhost", 4) == "http://127.0.0.1:4"
