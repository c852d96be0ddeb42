"""The change feed: a change made through another repository (another instance/process) wakes the watcher."""

from __future__ import annotations

import trio

from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot


async def test_account_changes_from_another_instance_are_seen(repo, open_repo):
    async with repo.watch_accounts() as changes, open_repo() as other:
        with trio.fail_after(10):
            await changes.receive()  # the initial "load everything"
            a = await other.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
            await changes.receive()
            await other.update_credentials(a.id, access_token="ya29.a", expires_at=2e9)
            await changes.receive()
            await other.update_quota(a.id, QuotaSnapshot({"m": ModelQuota(0.5, None)}))
            await changes.receive()
            await other.set_disabled(a.id, "x")
            await changes.receive()


async def test_settings_feed(repo, open_repo):
    async with repo.watch_settings() as changes, open_repo() as other:
        with trio.fail_after(10):
            await changes.receive()
            await other.set_mapping("a", "b")
            await changes.receive()
            await other.set_setting("k", 1)
            await changes.receive()
