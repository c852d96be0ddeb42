"""The quota scheduler against the fake upstream and a real store: what it persists, when it fetches, protection."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
import trio

from antigravityd.accounts.errors import LifecycleError
from antigravityd.routing.state import EventKind, PoolEvent
from antigravityd.store import EventKind as StoreEvent
from antigravityd.store import open_repository
from tests.lifecycle.conftest import open_world

FLASH = "gemini-3-flash"  # monitored by default (config.quota.monitored_models)
SONNET = "claude-sonnet-4-6"
UNMONITORED = "gemini-2.5-flash"


async def kinds(repo, account_id) -> list[str]:
    return [e.kind for e in reversed(await repo.events(account_id=account_id, limit=200))]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_repo(request, data_dir):
    url = request.getfixturevalue("pg_dsn") if request.param == "postgres" else ""
    repo = await open_repository(url, data_dir=data_dir)
    try:
        yield repo
    finally:
        await repo.aclose()


async def test_refresh_persists_fractions_reset_times_and_tier(any_repo, fake, data_dir, clock):
    repo = any_repo
    async with open_world(fake, repo, data_dir, clock) as w:
        acct = fake.add_account("alice@example.com", paid_tier="g1-pro-tier")
        added = await w.onboarding.add_refresh_token(acct.refresh_token)
        fake.set_quota(acct.email, FLASH, remaining_fraction=0.5, reset_in=3600)
        fake.set_quota(acct.email, SONNET, remaining_fraction=0.0, reset_in=7200)  # exhausted: no fraction sent
        view = await w.quota.refresh_account(added.id)

        reset = datetime.fromtimestamp(clock.now + 3600, UTC)
        assert view["tier"] == "g1-pro-tier" and view["forbidden"] is False
        assert view["models"][FLASH] == {"remaining_fraction": 0.5, "percent": 50, "reset_time": reset.isoformat()}
        assert view["models"][SONNET]["remaining_fraction"] == 0.0
        assert not any(m.startswith(("chat_", "tab_")) for m in view["models"])

        stored = await repo.get_quota(added.id)
        assert stored.models[FLASH].remaining_fraction == 0.5
        assert stored.models[FLASH].reset_time == reset  # RFC 3339 parsed to the exact instant
        assert stored.models[SONNET].reset_time == datetime.fromtimestamp(clock.now + 7200, UTC)
        assert stored.tier == "g1-pro-tier" and stored.fetched_at == datetime.fromtimestamp(clock.now, UTC)
        assert (await repo.get_account(added.id)).tier == "g1-pro-tier"
        assert (await repo.get_credentials(added.id)).project_id == acct.project  # discovered on the way
        assert StoreEvent.QUOTA_UPDATED in await kinds(repo, added.id)

        state = w.pool.get(added.id)  # routing sees it at once
        assert state.tier_id == "g1-pro-tier" and state.percents[FLASH] == 50 and state.percents[SONNET] == 0
        assert SONNET in state.quota.protected  # 0 % is protected, monitored or not
        sent = fake.last_request("fetchAvailableModels")
        assert sent.body == {"project": acct.project}


async def test_schedule_reset_passed_now_others_at_interval(world, clock):
    w = world
    a, b, c = [await w.add(f"{n}@example.com") for n in "abc"]
    assert w.fetches() == 3  # the first fetch happened at onboarding
    assert await w.run_due() == []  # nobody due: fetched a moment ago
    interval = w.config.quota.refresh_interval

    w.fake.set_quota("a@example.com", FLASH, remaining_fraction=0.2, reset_in=600)
    await w.quota.refresh_account(a)  # A now knows of a reset at +600 s on a model that is not full
    start = clock.now
    clock.advance(600 + 4)
    assert await w.run_due() == []  # the reset (+5 s settling) has not passed yet
    clock.advance(1)
    assert await w.run_due() == [a]  # reset passed: A at once, B and C untouched
    assert w.fetches("a@example.com") == 3 and w.fetches("b@example.com") == 1
    assert await w.run_due() == []  # the same reset never triggers again (the seed refetched every minute)
    assert w.pool.get(a).percents[FLASH] == 100  # the fake's window reset

    clock.now = start + interval - 1
    assert await w.run_due() == []
    clock.now = start + interval + 1  # B and C were fetched at onboarding, a moment before `start`
    assert sorted(await w.run_due()) == sorted([b, c])
    assert w.fetches("a@example.com") == 3
    assert w.quota.idle_for() == w.quota.tick  # A is next, in 604 s; idling is capped at one tick
    w.quota.tick = 10 * interval
    assert w.quota.idle_for() == 604  # A: fetched at start + 605, due again at start + 605 + interval


async def test_stale_reset_time_does_not_loop(world, clock):
    """Upstream repeating a reset time that is already past must not make every round refetch (seed bug)."""
    a = await world.add("a@example.com")
    past = datetime.fromtimestamp(clock.now - 60, UTC).isoformat().replace("+00:00", "Z")
    world.fake.inject("custom", rpcs="fetchAvailableModels", times=None, status=200, body={"models": {
        FLASH: {"displayName": "Flash", "quotaInfo": {"remainingFraction": 0.4, "resetTime": past}}}})
    await world.quota.refresh_account(a)
    for _ in range(5):
        clock.advance(60)
        assert await world.run_due() == []
    assert world.fetches("a@example.com") == 2


async def test_protection_protects_and_auto_restores_with_events(any_repo, fake, data_dir, clock):
    async with open_world(fake, any_repo, data_dir, clock) as w:
        await _protection_round_trip(w, any_repo)


async def _protection_round_trip(w, repo):
    a = await w.add("a@example.com")
    w.fake.set_quota("a@example.com", FLASH, remaining_fraction=0.08)  # at/below the 10 % threshold
    w.fake.set_quota("a@example.com", UNMONITORED, remaining_fraction=0.08)  # not monitored: left alone
    await w.quota.refresh_account(a)
    account = await repo.get_account(a)
    assert account.protected_models == {FLASH}
    assert w.pool.get(a).quota.protected == {FLASH}
    protected = [e for e in await repo.events(account_id=a, kinds=["model_protected"])]
    assert [e.details.get("model") for e in protected] == [FLASH]

    w.fake.set_quota("a@example.com", FLASH, remaining_fraction=0.10)  # exactly at the threshold: still protected
    await w.quota.refresh_account(a)
    assert (await repo.get_account(a)).protected_models == {FLASH}

    w.fake.set_quota("a@example.com", FLASH, remaining_fraction=0.5)
    view = await w.quota.refresh_account(a)
    assert view["protected_models"] == [] and (await repo.get_account(a)).protected_models == frozenset()
    assert w.pool.get(a).quota.protected == set()
    assert [e.details.get("model") for e in await repo.events(account_id=a, kinds=["model_unprotected"])] == [FLASH]


async def test_protection_without_auto_restore(fake, repo, data_dir, clock):
    async with open_world(fake, repo, data_dir, clock, **{"quota.auto_restore": False}) as w:
        a = await w.add("a@example.com")
        fake.set_quota("a@example.com", FLASH, remaining_fraction=0.05)
        await w.quota.refresh_account(a)
        fake.set_quota("a@example.com", FLASH, remaining_fraction=0.9)
        await w.quota.refresh_account(a)
        assert (await repo.get_account(a)).protected_models == {FLASH}


async def test_forbidden_snapshot_and_verification(world, repo):
    w = world
    a = await w.add("a@example.com")
    w.fake.inject("custom", account="a@example.com", rpcs="fetchAvailableModels", status=403, body={"error": {
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})
    view = await w.quota.refresh_account(a)
    assert view["forbidden"] is True and view["models"] == {}
    assert (await repo.get_quota(a)).forbidden is True
    assert set(w.config.quota.monitored_models) <= (await repo.get_account(a)).protected_models
    assert w.events == []  # a plain 403 does not take the account out of service

    w.fake.inject("verification_required", account="a@example.com", rpcs="fetchAvailableModels")
    await w.quota.refresh_account(a)
    assert EventKind.ACCOUNT_PROXY_DISABLED in [e.kind for e in w.events]
    assert w.pool.get(a).proxy_disabled


async def test_401_refreshes_token_once_and_retries(world, clock):
    a = await world.add("a@example.com")
    tokens_before = world.fake.stats.count(rpc="token")
    world.fake.inject("unauthenticated", account="a@example.com", rpcs="fetchAvailableModels")
    await world.quota.refresh_account(a)
    assert world.fake.stats.count(rpc="token") == tokens_before + 1
    assert world.fetches("a@example.com") == 3  # onboarding, the 401, the retry


async def test_failures_back_off_and_recover(world, clock):
    a = await world.add("a@example.com")
    clock.advance(world.config.quota.refresh_interval)
    world.fake.inject("server_error", rpcs="fetchAvailableModels", times=None)
    assert await world.run_due() == [a]  # attempted once, failed
    assert await world.run_due() == []  # backing off, not a hot loop
    clock.advance(59)
    assert await world.run_due() == []
    clock.advance(1)
    assert await world.run_due() == [a]  # after 1 min; the next wait doubles
    clock.advance(119)
    assert await world.run_due() == []
    world.fake.clear_faults()
    clock.advance(1)
    assert await world.run_due() == [a]
    assert world.quota._failures == {}


async def test_quota_exhausted_asks_for_an_early_refresh(world, clock):
    w = world
    a = await w.add("a@example.com")
    lockout = PoolEvent(EventKind.LOCKOUT, a, "a@example.com", "quota_exhausted", model=FLASH, until=clock.now + 9)
    other = PoolEvent(EventKind.LOCKOUT, a, "a@example.com", "rate_limited", model=FLASH, until=clock.now + 9)
    w.quota.observe([other])
    assert await w.run_due() == []  # a plain rate limit teaches nothing about the quota
    w.quota.observe([lockout])
    assert await w.run_due() == []  # a couple of seconds later, not on the request path
    clock.advance(w.quota.early_delay)
    assert await w.run_due() == [a]
    assert w.quota.request_refresh(a) is False  # debounced: one early refresh per minute at most
    clock.advance(w.quota.early_min_gap)
    assert w.quota.request_refresh(a) is True


async def test_run_loop_fetches_new_accounts_and_wakes_on_request(world, clock):
    w = world
    acct = w.fake.add_account("loop@example.com")
    added = await w.onboarding.add_refresh_token(acct.refresh_token)
    clock.advance(w.config.quota.refresh_interval)  # due now
    w.quota.tick = 3600.0  # only a wake can make it fetch twice within this test
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.quota.run)
        with trio.fail_after(10):
            await w.fake.wait_for_requests(2, rpc="fetchAvailableModels", email=acct.email)
            assert w.quota.request_refresh(added.id, delay=0) is True
            await w.fake.wait_for_requests(3, rpc="fetchAvailableModels", email=acct.email)
        nursery.cancel_scope.cancel()


async def test_refresh_all_and_errors(world, repo):
    w = world
    a = await w.add("a@example.com")
    b = await w.add("b@example.com")
    await repo.set_disabled(b, "disabled by operator")
    result = await w.quota.refresh_all()
    assert result == {"total": 1, "success": 1, "failed": 0, "failures": []}

    for bad, status in (("not-a-uuid", 400), ("00000000-0000-4000-8000-000000000000", 404), (b, 409)):
        with pytest.raises(LifecycleError) as info:
            await w.quota.refresh_account(bad)
        assert info.value.status == status

    w.fake.revoke(w.fake.account("a@example.com").refresh_token)
    w.clock.advance(3600)  # the access token is due for a refresh, which Google now refuses
    with pytest.raises(LifecycleError) as info:
        await w.quota.refresh_account(a)
    assert info.value.status == 409 and info.value.code == "invalid_grant"
    assert (await repo.get_account(a)).disabled  # the token manager took it out of service


def test_retry_delay_is_capped():
    from antigravityd.accounts.quota import retry_delay

    assert [retry_delay(n, 900) for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 480, 900]
    assert math.isfinite(retry_delay(200, 900))
