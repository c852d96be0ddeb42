"""OAuthClient against the fake Google OAuth endpoints (§5)."""

from __future__ import annotations

import urllib.parse
from types import SimpleNamespace

import pytest

from antigravityd.upstream.oauth import (
    SCOPES,
    InvalidClient,
    InvalidGrant,
    OAuthClient,
    OAuthConfigError,
    OAuthError,
    OAuthNetworkError,
    pkce_pair,
)
from tests.integration.upstream.conftest import closed_port_url


def oauth_for(fake, http, *, secret=None, clock=lambda: 1000.0, **urls) -> OAuthClient:
    return OAuthClient(fake.client_id, fake.client_secret if secret is None else secret,
                       urls.get("token_url", fake.token_url), fake.userinfo_url, fake.auth_url, http, clock=clock)


async def test_refresh_and_rotation(fake, http):
    acct = fake.add_account("rot@example.com", rotate_refresh_every=2)
    oauth = oauth_for(fake, http)
    grant = await oauth.refresh(acct.refresh_token)
    assert grant.expires_at == 1000.0 + 3599 and grant.refresh_token is None
    assert grant.access_token not in repr(grant)
    assert (await oauth.userinfo(grant.access_token)).email == "rot@example.com"
    rotated = await oauth.refresh(acct.refresh_token)
    assert rotated.refresh_token is not None and rotated.refresh_token == fake.account(acct.email).refresh_token
    sent = fake.last_request("token").body
    assert sent["grant_type"] == "refresh_token" and sent["client_id"] == fake.client_id


async def test_invalid_grant_is_distinct(fake, http, alice):
    oauth = oauth_for(fake, http)
    fake.revoke(alice.refresh_token)
    with pytest.raises(InvalidGrant) as info:
        await oauth.refresh(alice.refresh_token)
    assert info.value.error == "invalid_grant" and info.value.status == 400
    assert alice.refresh_token not in str(info.value)


async def test_wrong_and_missing_client_secret(fake, http, alice):
    with pytest.raises(InvalidClient) as info:
        await oauth_for(fake, http, secret="wrong").refresh(alice.refresh_token)
    assert isinstance(info.value, OAuthConfigError) and "wrong" not in str(info.value)
    for missing in ("", lambda: ""):
        with pytest.raises(OAuthConfigError, match=r"oauth\.client_secret"):
            await oauth_for(fake, http, secret=missing).refresh(alice.refresh_token)
    assert fake.stats.count(rpc="token") == 1  # a missing secret fails before any request


async def test_secret_is_read_when_needed(fake, http, alice, tmp_path):
    secret_file = tmp_path / "client_secret"
    section = SimpleNamespace(client_id=fake.client_id, client_secret="", client_secret_file=str(secret_file),
                              token_url=fake.token_url, userinfo_url=fake.userinfo_url, auth_url=fake.auth_url)
    oauth = OAuthClient.from_config(section, http)  # the file does not exist yet: construction must not care
    secret_file.write_text(fake.client_secret + "\n")
    assert (await oauth.refresh(alice.refresh_token)).access_token


async def test_network_errors_are_distinct(fake, http, alice):
    dead = oauth_for(fake, http, token_url=closed_port_url().replace("/v1internal", "/token"))
    with pytest.raises(OAuthNetworkError):
        await dead.refresh(alice.refresh_token)
    fake.inject("unavailable", account=alice.email, rpcs="token")
    with pytest.raises(OAuthNetworkError):
        await oauth_for(fake, http).refresh(alice.refresh_token)
    fake.inject("unavailable", account=alice.email, rpcs="userinfo")
    with pytest.raises(OAuthNetworkError):
        await oauth_for(fake, http).userinfo(alice.access_token)
    with pytest.raises(OAuthError) as info:
        await oauth_for(fake, http).userinfo("ya29.nope")
    assert not isinstance(info.value, OAuthNetworkError) and info.value.status == 401


async def test_authorization_code_flow(fake, http):
    oauth = oauth_for(fake, http)
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:8045/api/oauth/callback"
    url = oauth.authorization_url("state-123", redirect, challenge)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query == {"client_id": fake.client_id, "redirect_uri": redirect, "response_type": "code",
                     "scope": " ".join(SCOPES), "access_type": "offline", "prompt": "consent",
                     "include_granted_scopes": "true", "state": "state-123", "code_challenge": challenge,
                     "code_challenge_method": "S256"}
    fake.state.default_login_email = "dora@example.com"
    response = await http.get(url)  # the fake "logs in" at once and redirects back
    assert response.status_code == 302
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["location"]).query))
    assert back["state"] == "state-123"
    grant = await oauth.exchange_code(back["code"], redirect, verifier)
    assert grant.refresh_token == fake.account("dora@example.com").refresh_token
    user = await oauth.userinfo(grant.access_token)
    assert (user.email, user.name) == ("dora@example.com", "Dora")
    with pytest.raises(InvalidGrant):  # codes are single-use
        await oauth.exchange_code(back["code"], redirect, verifier)
