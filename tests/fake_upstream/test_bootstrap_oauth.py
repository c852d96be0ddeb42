"""Bootstrap RPCs (§6) and the OAuth endpoints (§5) of the fake."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

from tests.fake_upstream.testkit import UA, headers, rpc


async def test_load_code_assist_shapes(fake, http):
    onboarded = fake.add_account("a@example.com", tier="standard-tier", paid_tier="g1-pro-tier", credits="25000")
    body = (await rpc(http, fake, onboarded, "loadCodeAssist", {"metadata": {"ideType": "ANTIGRAVITY"}})).json()
    assert body["cloudaicompanionProject"] == onboarded.project
    assert body["currentTier"]["id"] == "standard-tier"
    assert body["paidTier"]["id"] == "g1-pro-tier"
    assert body["paidTier"]["availableCredits"][0] == {"creditType": "GOOGLE_ONE_AI", "creditAmount": "25000",
                                                       "minimumCreditAmountForUsage": "50"}
    assert body["allowedTiers"][0]["isDefault"] is True
    fresh = fake.add_account("b@example.com", tier="free-tier", project=None, ineligible_tiers=[
        {"reasonCode": "RESTRICTED_AGE", "tierId": "standard-tier"}])
    body = (await rpc(http, fake, fresh, "loadCodeAssist", {"metadata": {"ideType": 9, "platform": 3,
                                                                         "pluginType": 2}, "mode": 1})).json()
    assert "cloudaicompanionProject" not in body and "currentTier" not in body
    assert body["allowedTiers"] == [{"id": "free-tier", "name": "Gemini Code Assist for individuals",
                                     "description": "Gemini Code Assist for individuals",
                                     "userDefinedCloudaicompanionProject": False, "isDefault": True}]
    assert body["ineligibleTiers"][0]["reasonCode"] == "RESTRICTED_AGE"
    r = await rpc(http, fake, fresh, "loadCodeAssist", {"metadata": {"ideType": "EMACS"}})
    assert r.status_code == 400


async def test_onboard_user_by_repost_and_by_get(fake, http):
    acct = fake.add_account("new@example.com", project=None, onboard_polls=2, tier="free-tier")
    body = {"tierId": "free-tier", "metadata": {"ideType": "ANTIGRAVITY"}}
    first = (await rpc(http, fake, acct, "onboardUser", body)).json()
    assert first["done"] is False and first["name"].startswith("operations/onboard-")
    assert (await rpc(http, fake, acct, "onboardUser", body)).json() == first
    r = await http.get(f"{fake.base_url}/{first['name']}", headers=headers(acct))
    done = r.json()
    assert done["done"] is True
    project = done["response"]["cloudaicompanionProject"]
    assert project["id"] and project["name"].startswith("projects/")
    assert (await rpc(http, fake, acct, "loadCodeAssist", {})).json()["cloudaicompanionProject"] == project["id"]
    assert (await rpc(http, fake, acct, "onboardUser", {"tier_id": "free-tier"})).json()["done"] is True
    other = fake.add_account("other@example.com")
    assert (await http.get(f"{fake.base_url}/{first['name']}", headers=headers(other))).status_code == 404


async def test_fetch_available_models(fake, http, alice):
    body = (await rpc(http, fake, alice, "fetchAvailableModels", {"project": alice.project})).json()
    models = body["models"]
    flash = models["gemini-3-flash"]
    assert flash["maxOutputTokens"] == 65536 and flash["maxTokens"] == 1048576 and flash["supportsThinking"]
    assert flash["quotaInfo"]["remainingFraction"] == 1.0
    assert models["claude-opus-4-6-thinking"]["maxOutputTokens"] == 64000
    assert models["chat_20706"] == {"displayName": "Internal chat model"}
    assert "tab_flash_lite_preview" in body["tabModelIds"]
    assert body["deprecatedModelIds"]["gemini-3-pro-high"] == {"newModelId": "gemini-3.1-pro-high"}
    assert body["webSearchModelIds"] == ["gemini-2.5-flash"]
    assert "gemini-3.1-flash-image" in body["imageGenerationModelIds"]
    assert (await rpc(http, fake, alice, "fetchAvailableModels", {"project": "p", "x": 1})).status_code == 400


# ---------------------------------------------------------------------------------------------------- OAuth


def form(fake, **fields) -> dict:
    return {"client_id": fake.client_id, "client_secret": fake.client_secret, **fields}


async def test_refresh_grant_rotation_and_revocation(fake, http):
    acct = fake.add_account("r@example.com", rotate_refresh_every=2)
    r = await http.post(fake.token_url, data=form(fake, grant_type="refresh_token", refresh_token=acct.refresh_token))
    grant = r.json()
    assert r.status_code == 200 and grant["token_type"] == "Bearer" and grant["expires_in"] == 3599
    assert grant["access_token"].startswith("ya29.") and "refresh_token" not in grant
    old = acct.refresh_token
    grant = (await http.post(fake.token_url, data=form(fake, grant_type="refresh_token", refresh_token=old))).json()
    assert grant["refresh_token"] != old and grant["refresh_token"] == acct.refresh_token
    r = await http.post(fake.token_url, data=form(fake, grant_type="refresh_token", refresh_token=old))
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant",
                                                 "error_description": "Token has been expired or revoked."}
    # the new access token works upstream
    assert (await rpc(http, fake, grant["access_token"], "loadCodeAssist", {})).status_code == 200
    fake.revoke(acct.refresh_token)
    r = await http.post(fake.token_url, data=form(fake, grant_type="refresh_token", refresh_token=acct.refresh_token))
    assert r.json()["error"] == "invalid_grant"
    assert (await rpc(http, fake, grant["access_token"], "loadCodeAssist", {})).status_code == 401


async def test_token_endpoint_client_checks(fake, http, alice):
    r = await http.post(fake.token_url, data={**form(fake, grant_type="refresh_token",
                                                     refresh_token=alice.refresh_token), "client_secret": "wrong"})
    assert r.status_code == 401 and r.json() == {"error": "invalid_client", "error_description": "Unauthorized"}
    r = await http.post(fake.token_url, data={"client_id": fake.client_id, "grant_type": "refresh_token",
                                              "refresh_token": alice.refresh_token})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await http.post(fake.token_url, json=form(fake, grant_type="refresh_token", refresh_token=alice.refresh_token))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    fake.inject("server_error", account=alice.email, rpcs="token")
    r = await http.post(fake.token_url, data=form(fake, grant_type="refresh_token", refresh_token=alice.refresh_token))
    assert r.status_code == 500


async def test_authorization_code_flow_with_pkce(fake, http):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://127.0.0.1:51121/oauth-callback"
    query = urllib.parse.urlencode({
        "client_id": fake.client_id, "redirect_uri": redirect, "response_type": "code", "state": "xyz",
        "scope": "openid https://www.googleapis.com/auth/cloud-platform", "access_type": "offline",
        "prompt": "consent", "login_hint": "carol@example.com", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    r = await http.get(f"{fake.auth_url}?{query}")
    assert r.status_code == 302
    location = urllib.parse.urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    params = dict(urllib.parse.parse_qsl(location.query))
    assert params["state"] == "xyz"
    code = params["code"]
    exchange = form(fake, grant_type="authorization_code", code=code, redirect_uri=redirect)
    assert (await http.post(fake.token_url, data={**exchange, "code_verifier": "w" * 50})).json()["error"] == \
        "invalid_grant"
    # a used (or failed) code is gone
    r = await http.post(fake.token_url, data={**exchange, "code_verifier": verifier})
    assert r.json()["error"] == "invalid_grant"
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        (await http.get(f"{fake.auth_url}?{query}")).headers["location"]).query))
    exchange["code"] = params["code"]
    r = await http.post(fake.token_url, data={**exchange, "redirect_uri": "http://127.0.0.1:1/x",
                                              "code_verifier": verifier})
    assert r.json()["error"] == "redirect_uri_mismatch"
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        (await http.get(f"{fake.auth_url}?{query}")).headers["location"]).query))
    exchange["code"] = params["code"]
    grant = (await http.post(fake.token_url, data={**exchange, "code_verifier": verifier})).json()
    assert grant["refresh_token"] == fake.account("carol@example.com").refresh_token
    assert grant["id_token"].count(".") == 2
    info = (await http.get(fake.userinfo_url, headers={"authorization": f"Bearer {grant['access_token']}"})).json()
    assert info["email"] == "carol@example.com" and info["verified_email"] is True and info["name"] == "Carol"


async def test_denied_login_and_bad_client(fake, http):
    fake.deny_next_login = True
    query = urllib.parse.urlencode({"client_id": fake.client_id, "redirect_uri": "http://localhost:1/cb",
                                    "response_type": "code", "state": "s"})
    location = (await http.get(f"{fake.auth_url}?{query}")).headers["location"]
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)) == {"state": "s",
                                                                                  "error": "access_denied"}
    r = await http.get(f"{fake.auth_url}?{query.replace('fake-client-id', 'other')}")
    assert r.status_code == 400


async def test_userinfo_requires_a_valid_token(fake, http, alice):
    r = await http.get(fake.userinfo_url, headers={"authorization": "Bearer nope", "user-agent": UA})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = await http.get(fake.userinfo_url.replace("v2", "v1"), headers={"authorization": f"Bearer {alice.access_token}"})
    assert r.json()["email"] == alice.email
