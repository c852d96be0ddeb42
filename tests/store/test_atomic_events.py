"""A change and its audit event commit together or not at all.

A trigger planted in the database makes every insert into account_events fail; each mutating repository call
must then fail and leave the account exactly as it was (the change rolled back with the event).
"""

from __future__ import annotations

import pytest

from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot, StoreError

SQLITE_SABOTAGE = ("CREATE TRIGGER sabotage BEFORE INSERT ON account_events "
                   "BEGIN SELECT RAISE(ABORT, 'planted failure'); END")
PG_SABOTAGE = """
CREATE FUNCTION sabotage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'planted failure'; END $$;
CREATE TRIGGER sabotage BEFORE INSERT ON account_events FOR EACH ROW EXECUTE FUNCTION sabotage();
"""

MUTATIONS = {
    "set_disabled": lambda r, a: r.set_disabled(a.id, "x"),
    "proxy_disable": lambda r, a: r.set_proxy_disabled(a.id, True, "x"),
    "verification": lambda r, a: r.mark_verification_required(a.id),
    "protect": lambda r, a: r.set_protected_models(a.id, ["m"]),
    "rename": lambda r, a: r.update_account(a.id, name="other"),
    "proxy_url": lambda r, a: r.update_account(a.id, proxy_url="http://127.0.0.1:3128"),
    "delete": lambda r, a: r.delete_account(a.id),
    "refresh": lambda r, a: r.update_credentials(a.id, access_token="ya29.n", expires_at=2e9, refresh_token="1//n"),
    "project": lambda r, a: r.update_project(a.id, "p", "upstream"),
    "quota": lambda r, a: r.update_quota(a.id, QuotaSnapshot({"m": ModelQuota(0.1, None)}, tier="t"),
                                         protected_models=["m"]),
    "rate_limit": lambda r, a: r.record_rate_limit(a.id, model="m"),
    "upsert_update": lambda r, a: r.upsert_account(AccountDraft(email=a.email, refresh_token="1//changed",
                                                                name="changed")),
    "upsert_create": lambda r, a: r.upsert_account(AccountDraft(email="new@example.com", refresh_token="1//x")),
}


async def snapshot(repo):
    return (await repo.list_accounts(), await repo.all_credentials(), await repo.all_quotas(), await repo.events())


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
async def test_failed_event_rolls_back_the_change(repo, raw_sql, mutation):
    a = await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
    before = await snapshot(repo)
    raw_sql(SQLITE_SABOTAGE, PG_SABOTAGE)
    with pytest.raises(StoreError):
        await MUTATIONS[mutation](repo, a)
    assert await snapshot(repo) == before


async def test_enable_rolls_back_too(repo, raw_sql):
    a = await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
    await repo.set_disabled(a.id, "x")
    before = await snapshot(repo)
    raw_sql(SQLITE_SABOTAGE, PG_SABOTAGE)
    with pytest.raises(StoreError):
        await repo.enable(a.id)
    assert await snapshot(repo) == before
