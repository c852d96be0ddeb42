"""A real warmup: one minimal generation request to each model that sits at 100 % quota, so its reset window starts.

Google's quota window (about 5 h) starts with the first request to a model. An account whose model is untouched
at 100 % therefore gains nothing from waiting; one tiny request now ("Hi", a few output tokens, thinking off)
makes its quota come back sooner after the real work uses it up. (The seed's "warmup" only refreshed the quota.)

Which pairs: :class:`~antigravityd.routing.quota.WarmupTracker` (pure) picks each usable account's configured
models (``warmup.models``) at 100 % that were not warmed within ``warmup.cooldown``, and forgets a pair once its
model is seen below 100 % — so the pair is warmed again after the next reset, and not before.

Exactly one request per eligible pair per cooldown: the attempt is recorded — and persisted in the app settings
(``warmup.history.<account id>`` → ``{model: epoch seconds}``) — *before* the request goes out, so neither a
crash mid-request nor a restart sends it twice. A failed attempt is retried after ``FAILED_RETRY`` instead of a
whole cooldown. The stored history is merged in before every pass, so warmups by the CLI or another instance
count as well. After a warmup the account's quota is refreshed a few seconds later (to see the window start).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import trio

from antigravityd.accounts.errors import LifecycleError, load_account
from antigravityd.accounts.quota import QuotaScheduler, token_error
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.accounts.tokens import TokenManager, TokenUnavailable
from antigravityd.outcomes import FailureKind
from antigravityd.routing.quota import QuotaBook, WarmupTracker
from antigravityd.store import Repository, StoreUnavailable, ValidationError
from antigravityd.upstream.client import CloudCodeClient
from antigravityd.upstream.errors import UpstreamError

__all__ = ["HISTORY_PREFIX", "Warmer", "warmup_envelope"]

log = logging.getLogger("antigravityd.accounts")

HISTORY_PREFIX = "warmup.history."
FAILED_RETRY = 900.0  # seconds before a failed warmup of a pair is tried again
PROMPT = "Hi"
MAX_OUTPUT_TOKENS = 8
REFRESH_AFTER = 5.0  # seconds after a warmup before the account's quota is fetched again


def warmup_envelope(model: str, project: str, request_id: str) -> dict[str, Any]:
    """The smallest useful ``generateContent`` envelope for ``model``: a two-letter prompt, a few output tokens
    and thinking off (Gemini 3 cannot switch thinking off; ``thinkingLevel: low`` is its least)."""
    max_output = MAX_OUTPUT_TOKENS
    if model.startswith("gemini-3") or model == "gemini-pro-agent":
        thinking: dict[str, Any] = {"includeThoughts": False, "thinkingLevel": "low"}
    elif model.startswith("gemini-2.5-pro"):  # thinks always; 128 is its smallest budget
        thinking, max_output = {"includeThoughts": False, "thinkingBudget": 128}, 256
    else:
        thinking = {"includeThoughts": False, "thinkingBudget": 0}
    return {
        "project": project,
        "model": model,
        "userAgent": "antigravity",
        "requestType": "agent",
        "requestId": request_id,
        "request": {
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": max_output, "thinkingConfig": thinking},
        },
    }


class Warmer:
    def __init__(self, registry: AccountRegistry, repo: Repository, tokens: TokenManager, upstream: CloudCodeClient,
                 *, models: Iterable[str], cooldown: float, enabled: bool, quota: QuotaScheduler | None = None,
                 tick: float = 60.0, spacing: float = 0.5, jitter: float = 0.3,
                 wall: Callable[[], float] = time.time, rng: random.Random | None = None,
                 is_leader: Callable[[], bool] = lambda: True,
                 on_result: Callable[[str], None] = lambda result: None) -> None:
        """``models``/``cooldown``/``enabled``: ``config.warmup``. ``quota``: refreshes quota before a manual
        warmup and after every warmup. ``on_result``: metrics hook, called with "ok" | "error"."""
        self.registry = registry
        self.pool = registry.pool
        self.repo = repo
        self.tokens = tokens
        self.upstream = upstream
        self.models = [m for m in models if m]
        self.cooldown = cooldown
        self.enabled = enabled
        self.quota = quota
        self.tick = tick
        self.spacing = spacing
        self.jitter = jitter
        self.wall = wall
        self.rng = rng or random.Random()
        self.is_leader = is_leader
        self.on_result = on_result
        self.tracker = WarmupTracker()
        self._persisted: dict[str, dict[str, float]] = {}  # what the store holds, as far as we know
        self._lock = trio.Lock()  # one warmup pass at a time: the scheduled one or a manual one

    # -------------------------------------------------------------------------------------------- history

    async def sync_history(self) -> None:
        """Merge the stored warmup history into ours (newest attempt per pair wins). Done before every pass, so
        a restart keeps every cooldown and a warmup by the CLI or another instance counts here too. With the
        database away we carry on from memory."""
        try:
            settings = await self.repo.all_settings()
        except StoreUnavailable:
            return
        merged = self.tracker.entries()
        self._persisted = {}
        for key, value in settings.items():
            if not key.startswith(HISTORY_PREFIX) or not isinstance(value, dict):
                continue
            account_id = key.removeprefix(HISTORY_PREFIX)
            good = {m: float(t) for m, t in value.items() if isinstance(t, int | float) and not isinstance(t, bool)}
            self._persisted[account_id] = good
            for model, at in good.items():
                merged[(account_id, model)] = max(at, merged.get((account_id, model), at))
        self.tracker = WarmupTracker(merged)

    def history(self) -> dict[str, dict[str, float]]:
        by_account: dict[str, dict[str, float]] = {}
        for (account_id, model), at in self.tracker.entries().items():
            by_account.setdefault(account_id, {})[model] = round(at, 3)
        return by_account

    async def _persist(self) -> None:
        """Write the accounts whose history changed (one small setting per account)."""
        current = self.history()
        for account_id in current.keys() | self._persisted.keys():
            value = current.get(account_id, {})
            if value == self._persisted.get(account_id, {}):
                continue
            try:
                await self.repo.set_setting(HISTORY_PREFIX + account_id, value)
                self._persisted[account_id] = value
            except (StoreUnavailable, ValidationError) as e:
                log.warning("warmup history of %s not saved: %s", account_id, e)

    # -------------------------------------------------------------------------------------------- scheduled

    async def run(self) -> None:
        """Supervised task (only when ``warmup.enabled``): warm every due pair, then wait ``tick``."""
        if not self.enabled:
            return
        while True:
            if self.is_leader():
                try:
                    await self.warm_due()
                except StoreUnavailable as e:
                    log.warning("warmup skipped this round: %s", e)
            await trio.sleep(self.tick)

    async def warm_due(self) -> list[dict[str, Any]]:
        """One pass: warm each eligible (account, model) pair once, spaced; the outcomes."""
        async with self._lock:
            await self.sync_history()
            wall = self.wall()
            self.tracker.prune(wall, max_age=self.cooldown)
            books = [(a, b) for a, b in self.pool.quota_books(usable_only=True) if not b.forbidden]
            pairs = self.tracker.candidates(books, self.models, cooldown=self.cooldown, wall=wall)
            await self._persist()  # pairs seen below 100 % were forgotten
            outcomes = []
            for i, (account_id, model) in enumerate(pairs):
                if i:
                    await trio.sleep(self.spacing + self.rng.uniform(0.0, self.jitter))
                outcomes.append(await self._warm_one(account_id, model))
            self._refresh_after({o["account_id"] for o in outcomes if o["ok"]})
            return outcomes

    # -------------------------------------------------------------------------------------------- manual

    async def warm_account(self, account_id: str, *, refresh_first: bool = True) -> dict[str, Any]:
        """Warm this account's configured models that are at 100 % now, ignoring the cooldown (an operator
        asked). The quota is refreshed first, so a model whose window already runs is not touched."""
        account = await load_account(self.repo, account_id)
        if account.disabled or account.proxy_disabled:
            reason = account.disabled_reason if account.disabled else account.proxy_disabled_reason
            raise LifecycleError.conflict("account_unusable", f"account {account.email} is not in service: "
                                                              f"{reason or '-'}")
        if refresh_first and self.quota is not None:
            await self.quota.refresh_account(account.id)
        state = self.pool.get(account.id)
        book = state.quota if state is not None else QuotaBook()
        async with self._lock:
            await self.sync_history()
            result = await self._warm_models(account.id, book)
        self._refresh_after({account.id} if result["warmed"] else set())
        return {"account_id": account.id, "email": account.email, **result}

    async def warm_all(self) -> dict[str, Any]:
        """Manual warmup of every usable account (quotas refreshed first)."""
        if self.quota is not None:
            await self.quota.refresh_all()
        results = []
        async with self._lock:
            await self.sync_history()
            for account_id, book in list(self.pool.quota_books(usable_only=True)):
                state = self.pool.get(account_id)
                outcome = await self._warm_models(account_id, book)
                results.append({"account_id": account_id, "email": state.email if state else None, **outcome})
        self._refresh_after({r["account_id"] for r in results if r["warmed"]})
        return {"accounts": len(results), "warmed": sum(len(r["warmed"]) for r in results),
                "failed": sum(len(r["failed"]) for r in results), "results": results}

    async def _warm_models(self, account_id: str, book: QuotaBook) -> dict[str, Any]:
        warmed: list[str] = []
        skipped: list[dict[str, str]] = []
        failed: list[dict[str, str]] = []
        offered = {name.lower(): name for name in book.models}
        for wanted in self.models:
            name = offered.get(wanted.lower())
            if name is None:
                skipped.append({"model": wanted, "reason": "not offered to this account (or quota not fetched)"})
                continue
            percent = book.models[name].percent
            if percent < 100:
                skipped.append({"model": name, "reason": f"at {percent} %: its reset window is already running"})
                continue
            if warmed or failed:
                await trio.sleep(self.spacing + self.rng.uniform(0.0, self.jitter))
            outcome = await self._warm_one(account_id, name)
            if outcome["ok"]:
                warmed.append(name)
            else:
                failed.append({"model": name, "error": outcome["error"]})
        return {"warmed": warmed, "skipped": skipped, "failed": failed}

    # -------------------------------------------------------------------------------------------- one request

    async def _warm_one(self, account_id: str, model: str) -> dict[str, Any]:
        # Recorded and saved before sending: a crash or restart mid-request must not send it a second time.
        self.tracker.record(account_id, model, self.wall())
        await self._persist()
        error = ""
        try:
            await self._send(account_id, model)
        except UpstreamError as e:
            error = e.failure.kind.value
        except TokenUnavailable as e:
            error = token_error(e).code
        if not error:
            self.on_result("ok")
            log.info("warmed up %s on %s", model, account_id, extra={"ACCOUNT_ID": account_id, "MODEL": model})
            return {"account_id": account_id, "model": model, "ok": True, "error": ""}
        self.on_result("error")
        log.warning("warmup of %s on %s failed: %s", model, account_id, error,
                    extra={"ACCOUNT_ID": account_id, "MODEL": model})
        self.tracker.record(account_id, model, self.wall() - self.cooldown + FAILED_RETRY)
        await self._persist()
        return {"account_id": account_id, "model": model, "ok": False, "error": error}

    async def _send(self, account_id: str, model: str) -> None:
        access = await self.tokens.access(account_id)
        request_id = f"agent-{uuid.uuid4()}"
        try:
            await self.upstream.generate(access.token, warmup_envelope(model, access.project_id, request_id))
            return
        except UpstreamError as e:
            if e.failure.kind is not FailureKind.UNAUTHENTICATED:
                raise
        access = await self.tokens.access(account_id, rejected_token=access.token)
        await self.upstream.generate(access.token, warmup_envelope(model, access.project_id, request_id))

    def _refresh_after(self, account_ids: Iterable[str]) -> None:
        if self.quota is None:
            return
        for account_id in account_ids:
            self.quota.request_refresh(account_id, delay=REFRESH_AFTER)
