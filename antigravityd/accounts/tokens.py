"""Access tokens and project ids for the accounts, refreshed on demand and in the background.

* On demand: a request gets a token valid for at least ``REFRESH_MARGIN`` more seconds; a token closer to expiry
  is refreshed first. One refresh per account at a time — concurrent callers wait for it and share the result —
  so two refreshes never both spend the same refresh token (seed §12 row 3).
* A rotated refresh token is persisted together with the new access token in one transaction (the store writes
  ``refresh_token_rotated``). If the database is down, the new credentials are kept in memory and persisted by
  the background refresher as soon as it can — never dropped, since Google may already have retired the old one.
* ``invalid_grant`` disables the account with the reason; network errors leave it alone (retry later).
* The project id comes from ``loadCodeAssist`` (``onboardUser`` when the account has none); when Google gives
  none, the configured default project is used, stored as a *fallback* (never as Google's answer), counted, and
  retried later. A transport error during discovery is a failed attempt, not a reason to cache the fallback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from antigravityd.accounts.registry import AccountRegistry
from antigravityd.outcomes import Failure, FailureKind
from antigravityd.store import Credentials, NotFound, Repository, StoreUnavailable
from antigravityd.upstream.bootstrap import onboarding_tier
from antigravityd.upstream.client import CloudCodeClient
from antigravityd.upstream.errors import UpstreamError
from antigravityd.upstream.oauth import InvalidGrant, OAuthClient, OAuthConfigError, OAuthError

__all__ = ["Access", "TokenManager", "TokenUnavailable"]

log = logging.getLogger("antigravityd.accounts")

REFRESH_MARGIN = 300.0  # seconds of validity a request needs; refresh when less is left
BACKGROUND_MARGIN = 900.0  # the background refresher renews tokens this close to expiry
FALLBACK_RETRY = 3600.0  # seconds between attempts to learn a real project for a fallback account


@dataclass(frozen=True, slots=True)
class Access:
    account_id: str
    token: str
    project_id: str

    def __repr__(self) -> str:
        return f"Access(account_id={self.account_id!r}, project_id={self.project_id!r})"


class TokenUnavailable(Exception):
    """No usable token for this account now; ``failure`` says why (the pipeline records it and rotates)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class TokenManager:
    def __init__(self, registry: AccountRegistry, repo: Repository, oauth: OAuthClient, upstream: CloudCodeClient,
                 *, default_project: str, on_result: Callable[[str], None] = lambda result: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.repo = repo
        self.oauth = oauth
        self.upstream = upstream
        self.default_project = default_project
        self.on_result = on_result  # metrics hook: "ok" | "rotated" | "invalid_grant" | "error" | "fallback_project"
        self.clock = clock
        self._locks: dict[str, trio.Lock] = {}
        self._unpersisted: dict[str, Credentials] = {}
        self._fallback_tried: dict[str, float] = {}

    def _lock(self, account_id: str) -> trio.Lock:
        # Bounded by the live account set: locks of deleted accounts are dropped by prune().
        lock = self._locks.get(account_id)
        if lock is None:
            lock = self._locks[account_id] = trio.Lock()
        return lock

    def prune(self) -> None:
        live = set(self.registry.accounts)
        for gone in set(self._locks) - live:
            if not self._locks[gone].locked():
                del self._locks[gone]
        for table in (self._unpersisted, self._fallback_tried):
            for gone in set(table) - live:
                del table[gone]

    def _credentials(self, account_id: str) -> Credentials:
        creds = self.registry.credentials.get(account_id)
        if creds is None:
            raise TokenUnavailable(Failure(FailureKind.INVALID_GRANT, message="account has no credentials"))
        return creds

    async def access(self, account_id: str, *, rejected_token: str | None = None) -> Access:
        """A token valid for a while and the project to bill. ``rejected_token``: upstream said 401 for this
        token — refresh unless another request already did."""
        creds = self._credentials(account_id)
        stale = creds.access_token is None or (creds.expires_at or 0) - self.clock() < REFRESH_MARGIN
        if stale or (rejected_token is not None and creds.access_token == rejected_token):
            creds = await self._refresh(account_id, rejected_token)
        if not creds.project_id:
            creds = await self._discover_project(account_id, creds)
        assert creds.access_token is not None and creds.project_id is not None
        return Access(account_id, creds.access_token, creds.project_id)

    async def _refresh(self, account_id: str, rejected_token: str | None = None) -> Credentials:
        async with self._lock(account_id):
            creds = self._credentials(account_id)
            fresh = creds.access_token is not None and (creds.expires_at or 0) - self.clock() >= REFRESH_MARGIN
            if fresh and creds.access_token != rejected_token:
                return creds  # another caller refreshed while we waited
            try:
                grant = await self.oauth.refresh(creds.refresh_token)
            except InvalidGrant as e:
                self.on_result("invalid_grant")
                await self._disable(account_id, f"invalid_grant: {e}")
                raise TokenUnavailable(Failure(FailureKind.INVALID_GRANT, reason="invalid_grant",
                                               message="the account's refresh token was revoked")) from None
            except OAuthConfigError as e:
                self.on_result("error")
                raise TokenUnavailable(Failure(FailureKind.UNAUTHENTICATED, message=str(e))) from None
            except OAuthError as e:
                self.on_result("error")
                log.warning("token refresh failed for %s: %s", account_id, e, extra={"ACCOUNT_ID": account_id})
                raise TokenUnavailable(Failure(FailureKind.TRANSPORT, message="token refresh failed")) from None
            updated = Credentials(account_id, grant.refresh_token or creds.refresh_token, grant.access_token,
                                  grant.expires_at, creds.project_id, creds.project_source)
            self.registry.remember(updated)
            self.on_result("rotated" if grant.refresh_token else "ok")
            await self._persist(updated, rotated=grant.refresh_token is not None)
            return updated

    async def _persist(self, creds: Credentials, *, rotated: bool) -> None:
        try:
            await self.repo.update_credentials(creds.account_id, access_token=creds.access_token or "",
                                               expires_at=creds.expires_at or 0.0,
                                               refresh_token=creds.refresh_token if rotated else None)
            self._unpersisted.pop(creds.account_id, None)
        except StoreUnavailable:
            # Keep it: the old refresh token may already be retired. The background refresher retries.
            self._unpersisted[creds.account_id] = creds
            log.warning("database unavailable: new credentials of %s kept in memory until it is back",
                        creds.account_id, extra={"ACCOUNT_ID": creds.account_id})
        except NotFound:
            pass  # deleted meanwhile

    async def _disable(self, account_id: str, reason: str) -> None:
        try:
            await self.repo.set_disabled(account_id, reason[:800])
        except (StoreUnavailable, NotFound) as e:
            log.warning("could not persist disabling %s: %s", account_id, e)

    async def _discover_project(self, account_id: str, creds: Credentials) -> Credentials:
        async with self._lock(account_id):
            creds = self._credentials(account_id)
            if creds.project_id:
                return creds
            token = creds.access_token or ""
            try:
                info = await self.upstream.load_code_assist(token)
                project = info.project_id
                if project is None:
                    project = await self.upstream.onboard_user(token, onboarding_tier(info))
            except UpstreamError as e:
                if e.failure.kind in (FailureKind.TRANSPORT, FailureKind.TIMEOUT, FailureKind.SERVER_ERROR):
                    raise TokenUnavailable(e.failure) from None  # skip this account for now, cache nothing
                project = None  # Google answered, without a project for us
            source = "upstream"
            if not project:
                project, source = self.default_project, "fallback"
                self._fallback_tried[account_id] = self.clock()
                self.on_result("fallback_project")
                log.info("no project from Google for %s; using the configured default project", account_id,
                         extra={"ACCOUNT_ID": account_id})
            updated = Credentials(account_id, creds.refresh_token, creds.access_token, creds.expires_at,
                                  project, source)  # type: ignore[arg-type]
            self.registry.remember(updated)
            try:
                await self.repo.update_project(account_id, project, source)  # type: ignore[arg-type]
            except (StoreUnavailable, NotFound):
                pass  # memory has it; the next discovery persists
            return updated

    async def refresh_loop(self, interval: float = 60.0) -> None:
        """Supervised task: keep idle accounts' tokens fresh, persist credentials the database missed, and
        retry project discovery for accounts on the fallback project."""
        while True:
            for creds in list(self._unpersisted.values()):
                await self._persist(creds, rotated=True)
            now = self.clock()
            for account_id, account in list(self.registry.accounts.items()):
                if account.disabled:
                    continue
                creds = self.registry.credentials.get(account_id)
                if creds is None:
                    continue
                try:
                    if creds.access_token is None or (creds.expires_at or 0) - now < BACKGROUND_MARGIN:
                        await self._refresh(account_id)
                        await trio.sleep(0.3)  # spread refreshes: no thundering herd at Google's token endpoint
                    if creds.project_source == "fallback" and now - self._fallback_tried.get(account_id, 0) > \
                            FALLBACK_RETRY:
                        await self._retry_fallback(account_id)
                except TokenUnavailable:
                    continue
            self.prune()
            await trio.sleep(interval)

    async def _retry_fallback(self, account_id: str) -> None:
        creds = self._credentials(account_id)
        self.registry.remember(Credentials(account_id, creds.refresh_token, creds.access_token, creds.expires_at,
                                           None, None))
        try:
            await self._discover_project(account_id, self._credentials(account_id))
        except TokenUnavailable:
            self.registry.remember(creds)  # keep serving on the fallback meanwhile

