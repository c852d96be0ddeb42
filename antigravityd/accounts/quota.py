"""Per-model quota and tier of every account, kept fresh by a supervised scheduler.

One refresh of one account: a token from the token manager (which also discovers the project), ``loadCodeAssist``
for the tier, ``fetchAvailableModels`` with the account's project for each model's remaining fraction and RFC 3339
reset time. A 401 refreshes the token and retries once; a 403 gives a *forbidden* snapshot (no models). Quota
protection (``config.quota``) is recomputed by the pure routing code on every update — the pool's copy first, at
once, so routing reacts before the database round trip — and the resulting protected set is persisted together
with the snapshot in one transaction (the store writes ``model_protected`` / ``model_unprotected`` events).

When an account is due (:func:`next_due`): never fetched → now; else the regular ``quota.refresh_interval`` after
the last fetch, or a few seconds after the earliest reset time of a model that was not full, whichever comes
first. The seed misread RFC 3339 and refetched every account every minute; here a reset time that passed *before*
the last fetch never triggers another one. A failed fetch backs off (1, 2, 4 … minutes, at most the interval).
A request that met ``QUOTA_EXHAUSTED`` asks for an early refresh (:meth:`QuotaScheduler.request_refresh`,
debounced per account) to learn the exact reset.

The loop refreshes the single most urgent due account, then pauses a few hundred milliseconds (with jitter) so a
pool of accounts fetched at the same moment never reaches Google as a burst.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import trio

from antigravityd.accounts.errors import LifecycleError, load_account, store_unavailable
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.accounts.tokens import Access, TokenManager, TokenUnavailable
from antigravityd.outcomes import FailureKind
from antigravityd.routing.quota import ModelQuota as PoolQuota
from antigravityd.routing.quota import QuotaBook
from antigravityd.routing.state import EventKind, PoolEvent
from antigravityd.store import Account, ModelQuota, NotFound, QuotaSnapshot, Repository, StoreUnavailable
from antigravityd.upstream.client import CloudCodeClient
from antigravityd.upstream.errors import UpstreamError

__all__ = ["QuotaScheduler", "next_due", "pool_quotas", "quota_view", "token_error"]

log = logging.getLogger("antigravityd.accounts")

T = TypeVar("T")
K = FailureKind
FORBIDDEN_KINDS = frozenset({K.FORBIDDEN, K.VERIFICATION_REQUIRED, K.TOS_BANNED})
RESET_SLACK = 5.0  # seconds after a reset time before we ask (Google's counters settle)
FIRST_RETRY = 60.0  # seconds before retrying a failed fetch; doubles per consecutive failure


# ---------------------------------------------------------------------------------------------------- pure helpers


def next_due(book: QuotaBook, *, interval: float, retry_at: float | None = None,
             early_at: float | None = None) -> float:
    """Epoch second at which this account's quota should be fetched next (``-inf`` = now).

    An early request wins over everything; a back-off after a failure delays the regular schedule."""
    if early_at is not None:
        return early_at
    regular = book.next_refresh_at(interval, slack=RESET_SLACK)
    due = -math.inf if regular is None else regular
    return due if retry_at is None else max(due, retry_at)


def retry_delay(failures: int, interval: float) -> float:
    return min(interval, FIRST_RETRY * 2 ** max(0, failures - 1))


def pool_quotas(models: Mapping[str, ModelQuota]) -> dict[str, PoolQuota]:
    """Store quota → routing quota, the way the registry loads it: a reset time without a fraction is 0 %,
    a model without any quota information counts as full."""
    out = {}
    for name, q in models.items():
        fraction = q.remaining_fraction
        if fraction is None:
            fraction = 0.0 if q.reset_time is not None else 1.0
        out[name] = PoolQuota(fraction, q.reset_time.timestamp() if q.reset_time is not None else None)
    return out


def quota_view(account: Account, snapshot: QuotaSnapshot | None, protected: Iterable[str]) -> dict[str, Any]:
    """What the admin API and the CLI show of one account's quota (no tokens exist here)."""
    models = {}
    for name, q in sorted((snapshot.models if snapshot else {}).items()):
        frac = q.remaining_fraction
        models[name] = {
            "remaining_fraction": frac,
            "percent": None if frac is None else max(0, min(100, math.floor(frac * 100 + 1e-9))),
            "reset_time": q.reset_time.isoformat() if q.reset_time else None,
        }
    return {
        "account_id": account.id,
        "email": account.email,
        "tier": (snapshot.tier if snapshot and snapshot.tier else None) or account.tier,
        "forbidden": bool(snapshot and snapshot.forbidden),
        "fetched_at": snapshot.fetched_at.isoformat() if snapshot and snapshot.fetched_at else None,
        "protected_models": sorted(protected),
        "models": models,
    }


def token_error(e: TokenUnavailable) -> LifecycleError:
    kind = e.failure.kind
    if kind is K.INVALID_GRANT:
        return LifecycleError.conflict("invalid_grant", "the account's refresh token was revoked or has expired; "
                                                        "the account is disabled until it is added again")
    if kind is K.UNAUTHENTICATED:  # the OAuth client is misconfigured (e.g. no client secret)
        return LifecycleError.unavailable("oauth_not_configured", e.failure.message)
    return LifecycleError.upstream(kind.value, "could not get an access token from Google; try again later")


# ---------------------------------------------------------------------------------------------------- scheduler


class QuotaScheduler:
    def __init__(self, registry: AccountRegistry, repo: Repository, tokens: TokenManager, upstream: CloudCodeClient,
                 *, interval: float, spacing: float = 0.3, jitter: float = 0.2, tick: float = 60.0,
                 early_delay: float = 2.0, early_min_gap: float = 60.0, concurrency: int = 5,
                 wall: Callable[[], float] = time.time, rng: random.Random | None = None,
                 is_leader: Callable[[], bool] = lambda: True,
                 pool_events: Callable[[list[PoolEvent]], None] | None = None,
                 on_result: Callable[[str], None] = lambda result: None) -> None:
        """``interval``: seconds between regular refreshes of one account (``quota.refresh_interval``).
        ``spacing`` + up to ``jitter``: pause between two accounts. ``tick``: longest idle sleep (new accounts are
        noticed within it). ``is_leader``: with several instances on one database only the leader refreshes.
        ``pool_events``: where verification/ban verdicts of a 403 go (the pool event writer).
        ``on_result``: metrics hook, called with "ok" | "forbidden" | "error"."""
        self.registry = registry
        self.pool = registry.pool
        self.repo = repo
        self.tokens = tokens
        self.upstream = upstream
        self.interval = interval
        self.spacing = spacing
        self.jitter = jitter
        self.tick = tick
        self.early_delay = early_delay
        self.early_min_gap = early_min_gap
        self.concurrency = concurrency
        self.wall = wall
        self.rng = rng or random.Random()
        self.is_leader = is_leader
        self.pool_events = pool_events
        self.on_result = on_result
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._early: dict[str, float] = {}
        self._last_early: dict[str, float] = {}
        self._wake = trio.Event()

    # -------------------------------------------------------------------------------------------- one account

    async def refresh_account(self, account_id: str) -> dict[str, Any]:
        """Fetch, protect, update the pool and persist; the account's quota view. Raises LifecycleError."""
        account = await self._known_account(account_id)
        if account.disabled:
            raise LifecycleError.conflict("account_disabled",
                                          f"account {account.email} is disabled: {account.disabled_reason or '-'}")
        self._early.pop(account.id, None)
        try:
            snapshot = await self._fetch(account.id)
        except LifecycleError:
            self.on_result("error")
            raise
        self._failures.pop(account.id, None)
        self._retry_at.pop(account.id, None)
        self.on_result("forbidden" if snapshot.forbidden else "ok")
        protected = self._apply_to_pool(account, snapshot)
        try:
            stored = await self.repo.update_quota(account.id, snapshot, protected_models=protected)
        except NotFound:
            raise LifecycleError.not_found(account.id) from None
        except StoreUnavailable:
            log.warning("quota of %s applied in memory only: the database is unavailable", account.email,
                        extra={"ACCOUNT": account.email})
            raise store_unavailable() from None
        return quota_view(stored, snapshot, stored.protected_models)

    async def _known_account(self, account_id: str) -> Account:
        account = await load_account(self.repo, account_id)
        if account.id not in self.registry.accounts:  # added a moment ago: the watcher has not caught up yet
            try:
                await self.registry.reload()
            except StoreUnavailable:
                raise store_unavailable() from None
        return account

    async def _access(self, account_id: str, rejected: str | None = None) -> Access:
        try:
            return await self.tokens.access(account_id, rejected_token=rejected)
        except TokenUnavailable as e:
            raise token_error(e) from None

    async def _with_token(self, account_id: str, op: Callable[[Access], Awaitable[T]]) -> T:
        """Run ``op`` with a fresh token; on 401 refresh the token and try once more."""
        access = await self._access(account_id)
        try:
            return await op(access)
        except UpstreamError as e:
            if e.failure.kind is not K.UNAUTHENTICATED:
                raise
        return await op(await self._access(account_id, rejected=access.token))

    async def _fetch(self, account_id: str) -> QuotaSnapshot:
        fetched_at = datetime.fromtimestamp(self.wall(), UTC)
        tier = None
        try:
            tier = (await self._with_token(account_id, lambda a: self.upstream.load_code_assist(a.token))).tier
        except UpstreamError as e:
            log.info("loadCodeAssist failed for %s (%s); tier unchanged", account_id, e.failure.kind.value)
        try:
            catalog = await self._with_token(
                account_id, lambda a: self.upstream.fetch_available_models(a.token, a.project_id))
        except UpstreamError as e:
            if e.failure.kind not in FORBIDDEN_KINDS:
                raise LifecycleError.upstream(e.failure.kind.value, "fetchAvailableModels failed: "
                                              f"{e.failure.message or e.failure.kind.value}") from None
            self._report_forbidden(account_id, e)
            return QuotaSnapshot(models={}, forbidden=True, tier=tier, fetched_at=fetched_at)
        models = {m.id: ModelQuota(m.remaining_fraction, m.reset_time) for m in catalog.chat_models().values()}
        return QuotaSnapshot(models=models, forbidden=False, tier=tier, fetched_at=fetched_at)

    def _report_forbidden(self, account_id: str, e: UpstreamError) -> None:
        """A verification or ban 403 also takes the account out of the proxy pool, as a request's 403 would."""
        if e.failure.kind is K.FORBIDDEN or self.pool_events is None:
            return
        events = self.pool.report_failure(account_id, e.failure, now=trio.current_time(), wall=self.wall())
        if events:
            self.pool_events(events)

    def _apply_to_pool(self, account: Account, snapshot: QuotaSnapshot) -> frozenset[str]:
        """Update routing at once and return the protected set to persist, computed by the routing code from
        the pool's current set (which may hold a QUOTA_EXHAUSTED protection not yet written)."""
        models = pool_quotas(snapshot.models)
        wall = snapshot.fetched_at.timestamp() if snapshot.fetched_at else self.wall()
        state = self.pool.get(account.id)
        if state is None:
            book = QuotaBook(protected=set(account.protected_models))
            change = book.update(models, wall=wall, policy=self.pool.settings.protection, forbidden=snapshot.forbidden)
            protected = frozenset(book.protected)
        else:
            events = self.pool.update_quota(account.id, models, wall=wall, forbidden=snapshot.forbidden)
            if snapshot.tier:
                self.pool.set_tier(account.id, snapshot.tier)
            change = [(e.kind, e.model) for e in events]
            protected = frozenset(state.quota.protected)
        if change:
            log.info("quota protection for %s: %s", account.email, change, extra={"ACCOUNT": account.email})
        return protected

    def _note_failure(self, account_id: str) -> None:
        n = self._failures[account_id] = self._failures.get(account_id, 0) + 1
        self._retry_at[account_id] = self.wall() + retry_delay(n, self.interval)

    # -------------------------------------------------------------------------------------------- many accounts

    async def refresh_all(self) -> dict[str, Any]:
        """Refresh every enabled account now (a few at a time). ``{"total", "success", "failed", "failures"}``."""
        try:
            await self.registry.reload()
        except StoreUnavailable:
            raise store_unavailable() from None
        ids = [a.id for a in self.registry.accounts.values() if not a.disabled]
        result: dict[str, Any] = {"total": len(ids), "success": 0, "failed": 0, "failures": []}
        limiter = trio.CapacityLimiter(self.concurrency)

        async def one(account_id: str) -> None:
            async with limiter:
                try:
                    await self.refresh_account(account_id)
                    result["success"] += 1
                except LifecycleError as e:
                    result["failed"] += 1
                    email = self.registry.accounts[account_id].email if account_id in self.registry.accounts else None
                    result["failures"].append({"account_id": account_id, "email": email, "error": e.message,
                                               "code": e.code})

        async with trio.open_nursery() as nursery:
            for account_id in ids:
                nursery.start_soon(one, account_id)
        return result

    # -------------------------------------------------------------------------------------------- early refresh

    def request_refresh(self, account_id: str, delay: float | None = None) -> bool:
        """Refresh this account soon (after QUOTA_EXHAUSTED, to learn the exact reset). Debounced per account;
        False when a recent request already covers it. Never blocks: safe on the request path."""
        now = self.wall()
        if now - self._last_early.get(account_id, -math.inf) < self.early_min_gap:
            return False
        self._last_early[account_id] = now
        self._early[account_id] = now + (self.early_delay if delay is None else delay)
        self._wake.set()
        return True

    def observe(self, events: Iterable[PoolEvent]) -> None:
        """Tap on the pool's events (tee it next to the pool event writer): QUOTA_EXHAUSTED → early refresh."""
        for event in events:
            if event.kind in (EventKind.LOCKOUT, EventKind.MODEL_PROTECTED) and \
                    event.reason == K.QUOTA_EXHAUSTED.value:
                self.request_refresh(event.account_id)

    # -------------------------------------------------------------------------------------------- the loop

    def due(self) -> list[tuple[float, str]]:
        """(due epoch, account id) for every enabled account, most urgent first."""
        out = []
        for account_id, book in self.pool.quota_books(usable_only=False):
            state = self.pool.get(account_id)
            if state is None or not state.enabled:
                continue
            out.append((next_due(book, interval=self.interval, retry_at=self._retry_at.get(account_id),
                                 early_at=self._early.get(account_id)), account_id))
        out.sort()
        return out

    async def step(self) -> str | None:
        """Refresh the most urgent account if it is due; its id, or None when none is due yet."""
        self._prune()
        due = self.due()
        if not due or due[0][0] > self.wall():
            return None
        await self._refresh_quietly(due[0][1])
        return due[0][1]

    def idle_for(self) -> float:
        """Seconds until the next account is due (at most ``tick``)."""
        due = self.due()
        return self.tick if not due else max(0.0, min(self.tick, due[0][0] - self.wall()))

    async def run(self) -> None:
        """Supervised task: refresh whichever account is due, one at a time, spaced; sleep until the next (an
        early refresh request wakes it)."""
        while True:
            if self.is_leader() and await self.step() is not None:
                await trio.sleep(self.spacing + self.rng.uniform(0.0, self.jitter))  # not cut short: spacing
                continue
            await self._sleep(self.idle_for() if self.is_leader() else self.tick)

    async def _sleep(self, seconds: float) -> None:
        with trio.move_on_after(max(0.0, seconds)):
            await self._wake.wait()
        self._wake = trio.Event()

    async def _refresh_quietly(self, account_id: str) -> None:
        try:
            await self.refresh_account(account_id)
        except LifecycleError as e:
            self._early.pop(account_id, None)
            self._note_failure(account_id)  # back off, whatever the reason: never a hot loop on one account
            if e.code in ("not_found", "account_disabled"):
                return
            log.warning("quota refresh of %s failed (%s): %s", account_id, e.code, e.message,
                        extra={"ACCOUNT_ID": account_id})

    def _prune(self) -> None:
        live = {account_id for account_id, _ in self.pool.quota_books(usable_only=False)}
        for table in (self._failures, self._retry_at, self._early, self._last_early):
            for gone in table.keys() - live:
                del table[gone]
