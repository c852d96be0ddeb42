"""The real daemon with the account lifecycle wired in (services.py, api/routes.py): the supervised quota task
fetches an account it has never fetched, the routes answer behind the daemon's own auth gate, and a browser sign-in
comes back through the public callback."""

from __future__ import annotations

import functools

import httpx
import trio

from tests.support.daemon import start_daemon


async def test_daemon_runs_the_lifecycle(tmp_path, fake, data_dir):
    from antigravityd.store import AccountDraft, open_repository

    acct = fake.add_account("wired@example.com")
    repo = await open_repository("", data_dir=tmp_path / "daemon" / "data")
    try:
        stored = (await repo.upsert_account(AccountDraft(email=acct.email, refresh_token=acct.refresh_token))).account
    finally:
        await repo.aclose()
    settings = {
        "upstream.base_urls": [fake.base_url], "oauth.client_id": fake.client_id,
        "oauth.client_secret": fake.client_secret, "oauth.token_url": fake.token_url,
        "oauth.userinfo_url": fake.userinfo_url, "oauth.auth_url": fake.auth_url,
        "warmup.enabled": True,
    }
    daemon = await trio.to_thread.run_sync(functools.partial(start_daemon, tmp_path / "daemon", settings=settings))
    try:
        with trio.fail_after(20):  # the supervised quota task: never fetched → fetched at once
            await fake.wait_for_requests(1, rpc="fetchAvailableModels", email=acct.email)
        async with httpx.AsyncClient(base_url=daemon.url, headers=daemon.auth, timeout=20) as api:
            assert (await api.post(f"/api/accounts/{stored.id}/refresh-quota")).status_code == 200
            r = await api.post(f"/api/accounts/{stored.id}/warmup")
            assert r.status_code == 200 and r.json()["warmed"]
            fake.state.default_login_email = "signed.in@example.com"
            doc = (await api.get("/api/oauth/url")).json()
            assert doc["redirect_uri"] == f"{daemon.url}/api/oauth/callback"
        async with httpx.AsyncClient(follow_redirects=True, timeout=20) as browser:  # no admin key
            page = await browser.get(doc["url"])
            assert page.status_code == 200 and "signed.in@example.com" in page.text
            assert (await browser.get(f"{daemon.url}/api/oauth/url")).status_code == 401
    finally:
        await trio.to_thread.run_sync(daemon.stop)
        daemon.close()
    assert "Traceback" not in daemon.logs(), daemon.logs()
