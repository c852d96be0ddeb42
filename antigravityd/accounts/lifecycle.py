"""The account lifecycle services in one place: onboarding, the quota scheduler and the warmer.

The daemon builds them from its own pool, registry, token manager and clients (:meth:`Lifecycle.build`) and
supervises ``quota-refresh`` and ``warmup``; the CLI opens a standalone set on the same store
(:func:`open_standalone`), so ``accounts login|refresh-quota|warmup`` behave exactly like the admin API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from antigravityd.accounts.onboarding import Onboarding
from antigravityd.accounts.quota import QuotaScheduler
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.accounts.tokens import TokenManager
from antigravityd.accounts.warmup import Warmer
from antigravityd.config import Config
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.state import PoolEvent, PoolSettings
from antigravityd.store import Repository
from antigravityd.upstream.client import ClientSettings, CloudCodeClient, make_http_client
from antigravityd.upstream.oauth import OAuthClient

__all__ = ["Lifecycle", "open_standalone"]


@dataclass
class Lifecycle:
    repo: Repository
    onboarding: Onboarding
    quota: QuotaScheduler
    warmer: Warmer

    @classmethod
    def build(cls, config: Config, *, repo: Repository, registry: AccountRegistry, tokens: TokenManager,
              upstream: CloudCodeClient, oauth: OAuthClient,
              pool_events: Callable[[list[PoolEvent]], None] | None = None,
              is_leader: Callable[[], bool] = lambda: True,
              on_quota_result: Callable[[str], None] = lambda result: None,
              on_warmup_result: Callable[[str], None] = lambda result: None) -> Lifecycle:
        quota = QuotaScheduler(registry, repo, tokens, upstream, interval=config.quota.refresh_interval,
                               is_leader=is_leader, pool_events=pool_events, on_result=on_quota_result)
        warmer = Warmer(registry, repo, tokens, upstream, models=config.warmup.models,
                        cooldown=config.warmup.cooldown, enabled=config.warmup.enabled, quota=quota,
                        is_leader=is_leader, on_result=on_warmup_result)
        onboarding = Onboarding(repo, oauth, registry=registry, quota=quota)
        return cls(repo, onboarding, quota, warmer)

    def start_background(self, supervisor: object) -> None:
        """``supervisor.start(name, fn)`` for the two lifecycle loops (the warmer returns at once if disabled)."""
        supervisor.start("quota-refresh", self.quota.run)  # type: ignore[attr-defined]
        supervisor.start("warmup", self.warmer.run)  # type: ignore[attr-defined]


@asynccontextmanager
async def open_standalone(config: Config, repo: Repository) -> AsyncIterator[Lifecycle]:
    """A lifecycle on ``repo`` with its own pool, registry, token manager and HTTP client (for the CLI)."""
    pool = AccountPool(PoolSettings.from_config(config.routing, config.quota))
    registry = AccountRegistry(repo, pool)
    await registry.reload()
    settings = ClientSettings.from_config(config)
    http = make_http_client(settings)
    try:
        upstream = CloudCodeClient(settings, http)
        oauth = OAuthClient.from_config(config.oauth, http)
        tokens = TokenManager(registry, repo, oauth, upstream, default_project=config.upstream.default_project)
        yield Lifecycle.build(config, repo=repo, registry=registry, tokens=tokens, upstream=upstream, oauth=oauth)
    finally:
        await http.aclose()
