"""loadCodeAssist, onboardUser polling and fetchAvailableModels through the client (§6)."""

from __future__ import annotations

import datetime as dt

from antigravityd.upstream.bootstrap import onboarding_tier, parse_load_code_assist


async def test_load_code_assist_tier_detection(fake, client):
    paid = fake.add_account("paid@example.com", tier="standard-tier", paid_tier="g1-ultra-tier", credits="25000")
    project, tier, raw = await client.load_code_assist(paid.access_token)
    assert (project, tier) == (paid.project, "g1-ultra-tier") and raw["paidTier"]["id"] == "g1-ultra-tier"
    info = await client.load_code_assist(paid.access_token)
    assert info.credits == 25000.0 and info.onboarded
    sent = fake.last_request("loadCodeAssist")
    assert sent.body == {"metadata": {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED",
                                      "pluginType": "GEMINI"}}
    plain = fake.add_account("plain@example.com", tier="standard-tier")
    assert (await client.load_code_assist(plain.access_token)).tier == "standard-tier"
    blocked = fake.add_account("blocked@example.com", tier="standard-tier", allowed_tiers=["free-tier"],
                               ineligible_tiers=[{"reasonCode": "RESTRICTED_AGE", "tierId": "standard-tier"}])
    assert (await client.load_code_assist(blocked.access_token)).tier == "free-tier"  # currentTier skipped


def test_tier_order_without_a_server():
    raw = {"currentTier": {"id": "standard-tier"}, "allowedTiers": [{"id": "free-tier"}, {"id": "legacy-tier",
                                                                                          "isDefault": True}]}
    assert parse_load_code_assist(raw).tier == "standard-tier"
    assert parse_load_code_assist({"allowedTiers": raw["allowedTiers"]}).tier == "legacy-tier"
    assert parse_load_code_assist({}).tier is None
    assert parse_load_code_assist({"cloudaicompanionProject": {"id": "p1", "name": "x"}}).project_id == "p1"
    assert onboarding_tier(parse_load_code_assist({})) == "free-tier"
    assert onboarding_tier(parse_load_code_assist({"allowedTiers": raw["allowedTiers"]})) == "legacy-tier"


async def test_onboarding_polls_until_done(fake, client):
    fresh = fake.add_account("fresh@example.com", project=None, tier="free-tier", onboard_polls=3)
    info = await client.load_code_assist(fresh.access_token)
    assert info.project_id is None and not info.onboarded
    project = await client.onboard_user(fresh.access_token, onboarding_tier(info), poll_interval=0, max_polls=10)
    assert project is not None and project == fake.account(fresh.email).project
    assert fake.stats.count(rpc="onboardUser") == 1 and fake.stats.count(rpc="getOperation") == 3
    assert fake.last_request("onboardUser").body["tierId"] == "free-tier"
    assert (await client.load_code_assist(fresh.access_token)).project_id == project


async def test_onboarding_gives_up_after_max_polls(fake, client):
    slow = fake.add_account("slow@example.com", project=None, onboard_polls=50)
    assert await client.onboard_user(slow.access_token, "free-tier", poll_interval=0, max_polls=2) is None
    assert fake.stats.count(rpc="getOperation") == 2


async def test_fetch_available_models(fake, client):
    acct = fake.add_account("models@example.com", quota_limit=4)
    fake.set_quota(acct.email, "claude-sonnet-4-6", remaining_fraction=0.0, reset_in=3600)
    fake.set_quota(acct.email, "gemini-3-flash", remaining_fraction=0.75)
    catalog = await client.fetch_available_models(acct.access_token, acct.project)
    assert fake.last_request("fetchAvailableModels").body == {"project": acct.project}
    flash = catalog["gemini-3-flash"]
    assert flash.remaining_fraction == 0.75 and flash.max_output_tokens == 65536 and flash.max_tokens == 1048576
    assert flash.supports_thinking and flash.display_name == "Gemini 3 Flash"
    assert isinstance(flash.reset_time, dt.datetime) and flash.reset_time.tzinfo is dt.UTC
    claude = catalog["claude-sonnet-4-6"]
    assert claude.remaining_fraction == 0.0 and claude.exhausted and claude.max_output_tokens == 64000
    assert catalog["chat_20706"].internal and "chat_20706" not in catalog.chat_models()
    assert catalog.deprecated["gemini-3-pro-high"] == "gemini-3.1-pro-high"
    assert catalog.web_search_model_ids == ("gemini-2.5-flash",)
    assert "gemini-3.1-flash-image" in catalog.image_generation_model_ids
    await client.fetch_available_models(acct.access_token, None)
    assert fake.last_request("fetchAvailableModels").body == {}
