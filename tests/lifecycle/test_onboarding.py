"""Adding accounts by refresh token, and the OAuth state store (pure, with property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.accounts.errors import LifecycleError
from antigravityd.accounts.oauth_state import ExpiredState, OAuthStateStore, UnknownState
from antigravityd.accounts.onboarding import parse_pasted, token_hint
from tests.lifecycle.conftest import open_world


async def test_add_by_token_creates_a_routable_account(world, repo):
    acct = world.fake.add_account("alice@example.com", name="Alice Example", paid_tier="g1-ultra-tier")
    added = await world.onboarding.add_refresh_token(acct.refresh_token)
    assert added.created and added.email == "alice@example.com" and added.quota_error is None
    account = await repo.get_account(added.id)
    assert account.name == "Alice Example" and account.tier == "g1-ultra-tier"
    creds = await repo.get_credentials(added.id)
    assert creds.refresh_token == acct.refresh_token and creds.access_token  # the refresh's token is kept
    assert creds.project_id == acct.project and creds.project_source == "upstream"
    assert (await repo.get_quota(added.id)).models  # first quota fetched
    state = world.pool.get(added.id)
    assert state is not None and state.usable and state.percents
    assert world.fake.stats.count("alice@example.com", "token") == 1  # no second refresh for the first fetch


async def test_rotated_refresh_token_is_kept(world, repo):
    acct = world.fake.add_account("rot@example.com", rotate_refresh_every=1)
    old = acct.refresh_token
    added = await world.onboarding.add_refresh_token(old)
    new = world.fake.account("rot@example.com").refresh_token
    assert new != old
    assert (await repo.get_credentials(added.id)).refresh_token == new
    with pytest.raises(LifecycleError) as info:  # Google retired the old one; ours still works
        await world.onboarding.add_refresh_token(old)
    assert info.value.code == "invalid_grant"


async def test_invalid_grant_and_garbage_are_per_token_failures(world, repo):
    good = world.fake.add_account("good@example.com")
    revoked = world.fake.add_account("revoked@example.com")
    world.fake.revoke(revoked.refresh_token)
    result = await world.onboarding.add_refresh_tokens(
        [good.refresh_token, revoked.refresh_token, "1//not a token", 42, good.refresh_token])
    assert [a["email"] for a in result["added"]] == ["good@example.com"]  # the duplicate token counted once
    by_hint = {f["hint"]: f for f in result["failed"]}
    assert by_hint["…" + revoked.refresh_token[-4:]]["code"] == "invalid_grant"
    assert by_hint["…" + revoked.refresh_token[-4:]]["status"] == 400
    assert {f["code"] for f in result["failed"]} == {"invalid_grant", "invalid_token"}
    text = repr(result)
    assert revoked.refresh_token not in text and good.refresh_token not in text
    assert [a.email for a in await repo.list_accounts()] == ["good@example.com"]


async def test_same_email_again_is_an_upsert_and_revives_a_revoked_account(world, repo):
    acct = world.fake.add_account("dup@example.com")
    first = await world.onboarding.add_refresh_token(acct.refresh_token)
    await repo.set_disabled(first.id, "invalid_grant: Token has been expired or revoked.")
    second_token = world.fake.state.add_refresh_token(world.fake.account("dup@example.com"))
    second = await world.onboarding.add_refresh_token(second_token)
    assert second.id == first.id and not second.created
    assert (await repo.get_credentials(first.id)).refresh_token == second_token
    assert not (await repo.get_account(first.id)).disabled
    assert len(await repo.list_accounts()) == 1

    await repo.set_disabled(first.id, "disabled by operator")  # an operator's decision is not overruled
    await world.onboarding.add_refresh_token(second_token)
    assert (await repo.get_account(first.id)).disabled


async def test_quota_failure_does_not_lose_the_account(world, repo):
    acct = world.fake.add_account("slow@example.com")
    world.fake.inject("server_error", account="slow@example.com", rpcs="fetchAvailableModels")
    added = await world.onboarding.add_refresh_token(acct.refresh_token)
    assert added.quota_error and added.public()["quota_error"]
    assert (await repo.get_account(added.id)).email == "slow@example.com"


async def test_oauth_not_configured_is_a_clear_503(fake, repo, data_dir, clock):
    acct = fake.add_account("x@example.com")
    async with open_world(fake, repo, data_dir, clock, **{"oauth.client_secret": ""}) as w:
        with pytest.raises(LifecycleError) as info:
            await w.onboarding.add_refresh_token(acct.refresh_token)
    assert info.value.status == 503 and "client_secret" in info.value.message
    assert fake.stats.count(rpc="token") == 0


async def test_lookup_email_for_the_importer(world, tmp_path, repo):
    from antigravityd.accounts.importer import import_path

    acct = world.fake.add_account("imp@example.com", rotate_refresh_every=1)
    revoked = world.fake.add_account("gone@example.com")
    world.fake.revoke(revoked.refresh_token)
    pasted = tmp_path / "tokens.txt"
    pasted.write_text(f"here: {acct.refresh_token}\nand {revoked.refresh_token}\n")
    report = await import_path(repo, pasted, lookup_email=world.onboarding.lookup_email)
    assert [(i.email, i.outcome) for i in report.items] == [("imp@example.com", "created"), (None, "skipped")]
    assert "invalid_grant" in report.items[1].reason
    stored = await repo.get_credentials((await repo.get_account_by_email("imp@example.com")).id)
    assert stored.refresh_token == world.fake.account("imp@example.com").refresh_token  # the rotated one


# ---------------------------------------------------------------------------------------------------- pure parts


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_state_is_single_use_and_expires():
    clock = Tick()
    store = OAuthStateStore(clock, ttl=600, capacity=3)
    login = store.create("http://127.0.0.1:1/cb")
    assert len(login.state) == 32 and login.state.isalnum() and login.code_verifier not in repr(login)
    assert store.take(login.state) is login
    with pytest.raises(UnknownState):
        store.take(login.state)
    late = store.create("http://127.0.0.1:1/cb")
    clock.t += 600
    with pytest.raises(ExpiredState):
        store.take(late.state)
    with pytest.raises(UnknownState):
        store.take("nope")


def test_full_store_evicts_the_oldest_only():
    clock = Tick()
    store = OAuthStateStore(clock, ttl=600, capacity=3)
    logins = [store.create("u") for _ in range(3)]
    fourth = store.create("u")
    assert logins[0].state not in store and all(x.state in store for x in (*logins[1:], fourth))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("create"), st.floats(0, 400)),
                          st.tuples(st.just("take"), st.integers(0, 50))), max_size=60),
       st.integers(1, 8))
def test_state_store_matches_a_reference_model(ops, capacity):
    """Against a list kept by hand: at most ``capacity`` pending, oldest evicted first (never all), a take works
    exactly for a pending state younger than the TTL, and only once."""
    clock = Tick()
    store = OAuthStateStore(clock, ttl=600, capacity=capacity)
    model: list[tuple[str, float]] = []  # pending (state, created_at), oldest first
    issued: list[str] = []
    for op, arg in ops:
        if op == "create":
            clock.t += arg
            model = [(s, c) for s, c in model if clock.t - c < 600]
            was_full = len(model) >= capacity
            model = model[-(capacity - 1):] if capacity > 1 else []
            login = store.create("u")
            model.append((login.state, clock.t))
            issued.append(login.state)
            if was_full:
                assert len(store) == capacity  # a full store lost one login, not all of them
        elif issued:
            state = issued[arg % len(issued)]
            entry = next(((s, c) for s, c in model if s == state), None)
            try:
                store.take(state)
                ok = True
            except (UnknownState, ExpiredState):
                ok = False
            assert ok == (entry is not None and clock.t - entry[1] < 600)
            model = [(s, c) for s, c in model if s != state]
        assert len(store) <= capacity


@pytest.mark.parametrize(("text", "expected"), [
    ("http://127.0.0.1:8045/api/oauth/callback?state=abc&code=4%2F0Ab-x&scope=s", ("4/0Ab-x", "abc", None)),
    ("http://localhost:1/cb?error=access_denied&state=abc", (None, "abc", "access_denied")),
    ("?code=4/xyz&state=s1", ("4/xyz", "s1", None)),
    ("  4/0AbCdEf  ", ("4/0AbCdEf", None, None)),
    ("4%2F0AbCdEf", ("4/0AbCdEf", None, None)),
    ("", (None, None, None)),
])
def test_parse_pasted(text, expected):
    assert parse_pasted(text) == expected


def test_parse_pasted_rejects_huge_input():
    with pytest.raises(LifecycleError):
        parse_pasted("x" * 10_000)


@given(st.text(max_size=40))
def test_token_hint_never_reveals_more_than_four_characters(token):
    hint = token_hint(token)
    assert len(hint) <= 5 and (len(token.strip()) < 12 or hint == "…" + token.strip()[-4:])
