"""Keeps the in-memory account pool in step with the store, and holds each account's decrypted credentials.

The store is the single source of truth. A full reload (accounts, credentials, quotas) runs at start and then
whenever the store reports a change — from this process, the CLI, the admin API or another instance sharing the
database (``Repository.watch_accounts``). Metadata changes apply at once (the seed applied them only at the next
token refresh); the pool keeps each account's runtime state (in-flight requests, lockouts, AIMD, breaker).

While the database is unreachable the pool keeps serving from what it last loaded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import trio

from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota as PoolQuota
from antigravityd.routing.state import AccountSnapshot
from antigravityd.store import Account, Credentials, QuotaSnapshot, Repository, StoreUnavailable

__all__ = ["AccountRegistry", "snapshot_of"]

log = logging.getLogger("antigravityd.accounts")


def snapshot_of(account: Account, credentials: Credentials | None, quota: QuotaSnapshot | None) -> AccountSnapshot:
    models = None
    if quota is not None:
        models = {
            name: PoolQuota(q.remaining_fraction if q.remaining_fraction is not None else
                            (0.0 if q.reset_time is not None else 1.0),
                            q.reset_time.timestamp() if q.reset_time is not None else None)
            for name, q in quota.models.items()
        }
    return AccountSnapshot(
        id=account.id,
        email=account.email,
        tier_id=account.tier or (quota.tier if quota is not None else None),
        project_id=credentials.project_id if credentials is not None else None,
        project_is_default=credentials is not None and credentials.project_source == "fallback",
        enabled=not account.disabled,
        disabled_reason=account.disabled_reason or "",
        proxy_disabled=account.proxy_disabled,
        proxy_disabled_reason=account.proxy_disabled_reason or "",
        quota=models,
        quota_fetched_at=quota.fetched_at.timestamp() if quota is not None and quota.fetched_at else None,
        quota_forbidden=quota.forbidden if quota is not None else False,
        protected_models=account.protected_models,
    )


@dataclass
class LoadState:
    loaded: bool = False
    last_loaded_at: float | None = None
    last_error: str = ""
    accounts: int = 0


class AccountRegistry:
    def __init__(self, repo: Repository, pool: AccountPool) -> None:
        self.repo = repo
        self.pool = pool
        self.accounts: dict[str, Account] = {}
        self.credentials: dict[str, Credentials] = {}
        self.state = LoadState()
        self._reload_lock = trio.Lock()

    async def reload(self) -> None:
        """Read every account, credential and quota, and make the pool match."""
        async with self._reload_lock:
            accounts = await self.repo.list_accounts()
            credentials = await self.repo.all_credentials()
            quotas = await self.repo.all_quotas()
            seen = set()
            for account in accounts:
                seen.add(account.id)
                self.pool.upsert(snapshot_of(account, credentials.get(account.id), quotas.get(account.id)))
            for gone in set(self.accounts) - seen:
                self.pool.remove(gone)
            self.accounts = {a.id: a for a in accounts}
            # A credential refreshed in memory but not yet visible in this read must not be replaced by an older
            # one: keep whichever access token lives longer.
            merged = {}
            for account_id, fresh in credentials.items():
                mine = self.credentials.get(account_id)
                if mine is not None and (mine.expires_at or 0) > (fresh.expires_at or 0) and \
                        mine.refresh_token == fresh.refresh_token:
                    merged[account_id] = mine
                else:
                    merged[account_id] = fresh
            self.credentials = merged
            self.state = LoadState(True, time.time(), "", len(accounts))

    def remember(self, credentials: Credentials) -> None:
        """The token manager refreshed an account: use the new credentials at once, before the store echoes."""
        self.credentials[credentials.account_id] = credentials

    async def watch(self) -> None:
        """Supervised task: reload on every change the store reports (and once at start)."""
        async with self.repo.watch_accounts() as changes:
            async for _ in changes:
                try:
                    await self.reload()
                except StoreUnavailable as e:
                    self.state.last_error = str(e)
                    log.warning("account reload failed, serving from memory: %s", e)

    def status(self) -> str:
        usable = sum(1 for a in self.accounts.values() if a.serves_traffic)
        return f"{usable}/{len(self.accounts)} accounts usable"
