"""Conformance: accounts, credentials and quotas behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from antigravityd.store import (
    AccountDraft,
    Conflict,
    ModelQuota,
    NotFound,
    QuotaSnapshot,
    ValidationError,
)


def draft(email: str = "user@example.com", token: str = "1//refresh-a", **kw) -> AccountDraft:
    return AccountDraft(email=email, refresh_token=token, **kw)


async def kinds(repo, account_id=None, email=None) -> list[str]:
    return [e.kind for e in reversed(await repo.events(account_id=account_id, email=email))]


async def test_create_and_read_back(repo):
    a = await repo.create_account(draft(" User@Example.COM ", name="Ann"))
    assert a.email == "user@example.com" and a.name == "Ann"
    assert uuid.UUID(a.id)
    assert not a.disabled and not a.proxy_disabled and a.serves_traffic
    assert a.created_at.tzinfo is not None and a.created_at == a.updated_at
    assert await repo.get_account(a.id) == a
    assert await repo.get_account_by_email("USER@example.com") == a
    assert await repo.find_account(a.id) == a
    assert await repo.find_account("user@example.com") == a
    assert await repo.list_accounts() == [a]
    creds = await repo.get_credentials(a.id)
    assert creds.refresh_token == "1//refresh-a" and creds.access_token is None
    assert await kinds(repo, a.id) == ["account_created"]


async def test_create_duplicate_email_conflicts(repo):
    await repo.create_account(draft())
    with pytest.raises(Conflict):
        await repo.create_account(draft("USER@example.com", "1//other"))
    assert len(await repo.list_accounts()) == 1


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "1234", "'; drop table accounts; --", "g" * 36])
async def test_malformed_ids_are_validation_errors(repo, bad):
    for call in (repo.get_account, repo.delete_account, repo.enable, repo.get_credentials, repo.get_quota):
        with pytest.raises(ValidationError):
            await call(bad)
    with pytest.raises(ValidationError):
        await repo.set_disabled(bad, "x")


async def test_absent_ids_are_not_found(repo):
    missing = str(uuid.uuid4())
    for call in (repo.get_account, repo.delete_account, repo.enable, repo.get_credentials):
        with pytest.raises(NotFound):
            await call(missing)
    with pytest.raises(NotFound):
        await repo.get_account_by_email("nobody@example.com")
    with pytest.raises(NotFound):
        await repo.find_account("nobody@example.com")
    with pytest.raises(ValidationError):
        await repo.find_account("neither-id-nor-email")
    assert await repo.get_quota(missing) is None


@pytest.mark.parametrize("bad", [
    draft("not an email"), draft(token=""), draft(token="has space"), draft(proxy_url="ftp://x"),
    draft(id="nope"), draft(protected_models=frozenset({""})), draft(name="x" * 300),
])
async def test_bad_drafts_are_rejected_without_writing(repo, bad):
    with pytest.raises(ValidationError):
        await repo.upsert_account(bad)
    assert await repo.list_accounts() == []
    assert await repo.events() == []


async def test_upsert_creates_then_is_idempotent_then_updates(repo):
    first = await repo.upsert_account(draft(name="A"))
    assert first.created and first.changed == ()
    again = await repo.upsert_account(draft(name="A"))
    assert not again.created and again.changed == () and again.account == first.account
    assert await kinds(repo, first.account.id) == ["account_created"]

    changed = await repo.upsert_account(draft(token="1//rotated", name="B", disabled=True, disabled_reason="gone"))
    assert not changed.created
    assert set(changed.changed) == {"name", "disabled", "disabled_reason", "refresh_token"}
    a = changed.account
    assert a.name == "B" and a.disabled and a.disabled_reason == "gone" and a.disabled_at is not None
    assert (await repo.get_credentials(a.id)).refresh_token == "1//rotated"
    events = await repo.events(account_id=a.id)
    assert [e.kind for e in events] == ["account_updated", "account_created"]
    assert events[0].details == {"fields": sorted(changed.changed), "operation": "upsert"}


async def test_upsert_keeps_an_imported_uuid_unless_taken(repo):
    wanted = str(uuid.uuid4())
    a = (await repo.upsert_account(draft(id=wanted.upper()))).account
    assert a.id == wanted
    b = (await repo.upsert_account(draft("other@example.com", id=wanted))).account
    assert b.id != wanted and uuid.UUID(b.id)


async def test_upsert_migrates_history_and_flags(repo):
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    used = datetime(2024, 6, 1, tzinfo=UTC)
    a = (await repo.upsert_account(draft(
        created_at=created, last_used_at=used, proxy_url="socks5://u:p@127.0.0.1:1080", tier="g1-pro-tier",
        proxy_disabled=True, proxy_disabled_reason="phone_verification_required",
        protected_models=frozenset({"claude-sonnet-4-6"}), access_token="ya29.x", expires_at=1_900_000_000,
        project_id="proj-1", project_source="upstream",
    ))).account
    assert a.created_at == created and a.last_used_at == used and a.tier == "g1-pro-tier"
    assert a.proxy_disabled and a.proxy_disabled_reason == "phone_verification_required"
    assert a.protected_models == {"claude-sonnet-4-6"} and a.proxy_url == "socks5://u:p@127.0.0.1:1080"
    c = await repo.get_credentials(a.id)
    assert (c.access_token, c.expires_at, c.project_id, c.project_source) == ("ya29.x", 1_900_000_000, "proj-1",
                                                                             "upstream")
    # last_used_at never goes backwards through an upsert
    older = await repo.upsert_account(draft(last_used_at=used - timedelta(days=1)))
    assert older.changed == () and older.account.last_used_at == used


async def test_update_profile_and_proxy(repo):
    a = await repo.create_account(draft())
    a = await repo.update_account(a.id, name="New", proxy_url="http://user:secret@10.0.0.1:3128")
    assert a.name == "New" and a.proxy_url == "http://user:secret@10.0.0.1:3128"
    events = await repo.events(account_id=a.id)
    assert [e.kind for e in events][:2] == ["proxy_changed", "account_updated"]
    assert events[0].details == {"proxy": "http://***@10.0.0.1:3128"}  # the password never reaches the log
    a = await repo.update_account(a.id, proxy_url="")
    assert a.proxy_url is None
    with pytest.raises(ValidationError):
        await repo.update_account(a.id, proxy_url="gopher://x")
    with pytest.raises(ValidationError):
        await repo.update_account(a.id, email="x@y.z")


async def test_disable_enable_write_one_event_per_change(repo):
    a = await repo.create_account(draft())
    a = await repo.set_disabled(a.id, "invalid_grant: token ya29.secret-value revoked")
    assert a.disabled and a.disabled_at is not None
    assert "ya29" not in a.disabled_reason  # token-looking text is scrubbed from reasons
    await repo.set_disabled(a.id, a.disabled_reason)  # same state: no event
    a = await repo.enable(a.id)
    assert not a.disabled and a.disabled_reason is None and a.disabled_at is None
    await repo.enable(a.id)
    assert await kinds(repo, a.id) == ["account_created", "account_disabled", "account_enabled"]
    assert len(a.disabled_reason or "") == 0
    long = await repo.set_disabled(a.id, "x" * 5000)
    assert len(long.disabled_reason) == 800


async def test_proxy_disable_and_verification(repo):
    a = await repo.create_account(draft())
    a = await repo.set_proxy_disabled(a.id, True, "operator")
    assert a.proxy_disabled and not a.disabled and not a.serves_traffic
    a = await repo.set_proxy_disabled(a.id, False)
    assert not a.proxy_disabled and a.proxy_disabled_reason is None
    a = await repo.mark_verification_required(a.id, detail_url="https://accounts.google.com/signin/continue")
    assert a.proxy_disabled and a.proxy_disabled_reason == "verification_required"
    await repo.mark_verification_required(a.id)  # already in that state
    events = list(reversed(await repo.events(account_id=a.id)))
    assert [(e.kind, e.details) for e in events[1:]] == [
        ("account_disabled", {"scope": "proxy", "reason": "operator"}),
        ("account_enabled", {"scope": "proxy"}),
        ("verification_required", {"detail_url": "https://accounts.google.com/signin/continue"}),
    ]


async def test_protected_models_events(repo):
    a = await repo.create_account(draft())
    a = await repo.set_protected_models(a.id, ["m1", "m2"])
    a = await repo.set_protected_models(a.id, ["m2", "m3"])
    await repo.set_protected_models(a.id, ["m3", "m2"])  # same set: nothing
    events = list(reversed(await repo.events(account_id=a.id)))
    assert [(e.kind, e.details["model"]) for e in events[1:]] == [
        ("model_protected", "m1"), ("model_protected", "m2"), ("model_protected", "m3"), ("model_unprotected", "m1"),
    ]
    assert (await repo.get_account(a.id)).protected_models == {"m2", "m3"}


async def test_delete_keeps_the_audit_trail(repo):
    a = await repo.create_account(draft())
    await repo.set_disabled(a.id, "bye")
    await repo.delete_account(a.id)
    with pytest.raises(NotFound):
        await repo.get_account(a.id)
    with pytest.raises(NotFound):
        await repo.get_credentials(a.id)
    assert await repo.all_credentials() == {}
    events = await repo.events(email="user@example.com")
    assert [e.kind for e in events] == ["account_deleted", "account_disabled", "account_created"]
    assert all(e.account_id is None for e in events)
    assert events[0].details == {"id": a.id}
    # the email is free again
    assert (await repo.upsert_account(draft())).created


async def test_mark_used_only_moves_forward(repo):
    a = await repo.create_account(draft())
    t = datetime(2030, 1, 1, tzinfo=UTC)
    await repo.mark_used({a.id: t})
    await repo.mark_used({a.id: t - timedelta(hours=1)})
    assert (await repo.get_account(a.id)).last_used_at == t
    assert await kinds(repo, a.id) == ["account_created"]


async def test_refresh_keeps_a_rotated_refresh_token(repo):
    a = await repo.create_account(draft())
    c = await repo.update_credentials(a.id, access_token="ya29.one", expires_at=2_000_000_000.5)
    assert (c.access_token, c.refresh_token, c.expires_at) == ("ya29.one", "1//refresh-a", 2_000_000_000.5)
    c = await repo.update_credentials(a.id, access_token="ya29.two", expires_at=2_000_003_600,
                                      refresh_token="1//refresh-a")  # same token back: not a rotation
    c = await repo.update_credentials(a.id, access_token="ya29.three", expires_at=2_000_007_200,
                                      refresh_token="1//refresh-b")
    assert c.refresh_token == "1//refresh-b"
    assert (await repo.get_credentials(a.id)).refresh_token == "1//refresh-b"
    assert (await repo.all_credentials())[a.id] == c
    assert await kinds(repo, a.id) == ["account_created", "token_refreshed", "token_refreshed", "token_refreshed",
                                       "refresh_token_rotated"]
    assert "ya29" not in repr(c) and "1//" not in repr(c)


async def test_project_source_is_kept(repo):
    a = await repo.create_account(draft())
    await repo.update_project(a.id, "bamboo-precept-lgxtn", "fallback")
    c = await repo.get_credentials(a.id)
    assert (c.project_id, c.project_source) == ("bamboo-precept-lgxtn", "fallback")
    await repo.update_project(a.id, "bamboo-precept-lgxtn", "fallback")
    await repo.update_project(a.id, "real-project", "upstream")
    with pytest.raises(ValidationError):
        await repo.update_project(a.id, "x", "guess")
    events = list(reversed(await repo.events(account_id=a.id)))
    assert [e.details.get("project_source") for e in events[1:]] == ["fallback", "upstream"]


async def test_quota_round_trip_and_protection(repo):
    a = await repo.create_account(draft())
    reset = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    snap = QuotaSnapshot({"claude-sonnet-4-6": ModelQuota(0.05, reset), "gemini-3-flash": ModelQuota(None, None)},
                         forbidden=False, tier="g1-ultra-tier")
    a = await repo.update_quota(a.id, snap, protected_models=["claude-sonnet-4-6"])
    assert a.tier == "g1-ultra-tier" and a.protected_models == {"claude-sonnet-4-6"}
    q = await repo.get_quota(a.id)
    assert q.models == snap.models and q.tier == "g1-ultra-tier" and not q.forbidden and q.fetched_at is not None
    assert (await repo.all_quotas()) == {a.id: q}
    await repo.update_quota(a.id, QuotaSnapshot({}, forbidden=True), protected_models=[])
    assert (await repo.get_quota(a.id)).forbidden
    assert await kinds(repo, a.id) == ["account_created", "quota_updated", "model_protected", "quota_updated",
                                       "model_unprotected"]
    with pytest.raises(ValidationError):
        await repo.update_quota(a.id, QuotaSnapshot({"m": ModelQuota(1.5, None)}))


async def test_rate_limit_is_an_event_only(repo):
    a = await repo.create_account(draft())
    await repo.record_rate_limit(a.id, model="gemini-3-flash", reason="RATE_LIMIT_EXCEEDED", retry_after=12)
    e = (await repo.events(account_id=a.id, kinds=["rate_limited"]))[0]
    assert e.details == {"model": "gemini-3-flash", "reason": "RATE_LIMIT_EXCEEDED", "retry_after": 12.0}
    assert await repo.get_account(a.id) == a


async def test_events_paging_and_filters(repo):
    a = await repo.create_account(draft())
    b = await repo.create_account(draft("b@example.com"))
    for i in range(5):
        await repo.record_rate_limit(a.id, model=f"m{i}")
    page1 = await repo.events(limit=3)
    page2 = await repo.events(limit=3, before_id=page1[-1].id)
    page3 = await repo.events(limit=3, before_id=page2[-1].id)
    ids = [e.id for e in page1 + page2 + page3]
    assert ids == sorted(ids, reverse=True) and len(ids) == 7 and page3[-1].kind == "account_created"
    assert [e.account_id for e in await repo.events(account_id=b.id)] == [b.id]
    assert len(await repo.events(kinds=["rate_limited", "account_created"])) == 7
    assert len(await repo.events(kinds=["account_created"])) == 2
    with pytest.raises(ValidationError):
        await repo.events(limit=0)
