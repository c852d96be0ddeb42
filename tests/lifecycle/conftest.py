"""A daemon's account services, assembled in-process the way ``services.py`` does, against the fake upstream
over real loopback HTTP and a real store (SQLite; PostgreSQL where a test asks for ``backend``).

Time: one manual wall clock (:class:`WallClock`) drives the fake (token expiry, quota resets) and our side
(token refresh margins, quota schedule, warmup cooldowns), so tests move hours in a line and never sleep.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from antigravityd.accounts.lifecycle import Lifecycle
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.accounts.tokens import TokenManager
from antigravityd.api import accounts_lifecycle
from antigravityd.api.auth import Authenticator
from antigravityd.app import Gateway, routing_error
from antigravityd.config import Config
from antigravityd.config_loading import load_config
from antigravityd.http.router import Router
from antigravityd.http.server import HttpServer, ServerLimits
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.state import PoolEvent, PoolSettings
from antigravityd.store import Repository, open_repository
from antigravityd.upstream.client import ClientSettings, CloudCodeClient
from antigravityd.upstream.oauth import OAuthClient
from tests.fake_upstream import FakeUpstream, run_fake_upstream
from tests.store.conftest import pg_dsn, pg_server_dsn, pg_template  # noqa: F401  (fixtures)

ADMIN_KEY = "sk-lifecycle-test-0123456789abcdef"


class WallClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(start if start is not None else time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(fake: FakeUpstream, data_dir: Path, **overrides: Any) -> Config:
    values = {
        "data_dir": str(data_dir),
        "upstream.base_urls": [fake.base_url],
        "oauth.client_id": fake.client_id,
        "oauth.client_secret": fake.client_secret,
        "oauth.token_url": fake.token_url,
        "oauth.userinfo_url": fake.userinfo_url,
        "oauth.auth_url": fake.auth_url,
    }
    values.update(overrides)
    return load_config(data_dir / "absent.toml", environ={}, overrides=values)


@dataclass
class World:
    fake: FakeUpstream
    repo: Repository
    config: Config
    clock: WallClock
    pool: AccountPool
    registry: AccountRegistry
    tokens: TokenManager
    upstream: CloudCodeClient
    oauth: OAuthClient
    life: Lifecycle
    events: list[PoolEvent] = field(default_factory=list)

    @property
    def quota(self):
        return self.life.quota

    @property
    def warmer(self):
        return self.life.warmer

    @property
    def onboarding(self):
        return self.life.onboarding

    async def add(self, email: str, **kw: Any) -> str:
        """An account at the fake, added through onboarding (refresh → userinfo → upsert → first quota)."""
        acct = self.fake.add_account(email, **kw)
        added = await self.onboarding.add_refresh_token(acct.refresh_token)
        assert added.quota_error is None, added.quota_error
        return added.id

    def fetches(self, email: str | None = None) -> int:
        return self.fake.stats.count(email, "fetchAvailableModels")

    async def run_due(self) -> list[str]:
        """Everything due now, refreshed (what the loop does, minus its pauses)."""
        done = []
        while (account_id := await self.quota.step()) is not None:
            done.append(account_id)
        return done


@asynccontextmanager
async def open_world(fake: FakeUpstream, repo: Repository, data_dir: Path, clock: WallClock,
                     **overrides: Any) -> AsyncIterator[World]:
    config = make_config(fake, data_dir, **overrides)
    pool = AccountPool(PoolSettings.from_config(config.routing, config.quota))
    registry = AccountRegistry(repo, pool)
    await registry.reload()
    settings = ClientSettings.from_config(config)
    async with httpx.AsyncClient(timeout=10, verify=False) as http:
        upstream = CloudCodeClient(settings, http)
        o = config.oauth
        oauth = OAuthClient(o.client_id, o.client_secret, o.token_url, o.userinfo_url, o.auth_url, http, clock=clock)
        tokens = TokenManager(registry, repo, oauth, upstream, default_project=config.upstream.default_project,
                              clock=clock)
        events: list[PoolEvent] = []
        life = Lifecycle.build(config, repo=repo, registry=registry, tokens=tokens, upstream=upstream, oauth=oauth,
                               pool_events=events.extend)
        for service in (life.quota, life.warmer):
            service.wall = clock
            service.spacing = service.jitter = 0.0
        yield World(fake, repo, config, clock, pool, registry, tokens, upstream, oauth, life, events)


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
async def fake(clock) -> AsyncIterator[FakeUpstream]:
    async with run_fake_upstream(now=clock) as server:
        yield server
    assert not server.internal_errors, server.internal_errors[0]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def repo(data_dir) -> AsyncIterator[Repository]:
    r = await open_repository("", data_dir=data_dir)
    try:
        yield r
    finally:
        await r.aclose()


@pytest.fixture
async def world(fake, repo, data_dir, clock) -> AsyncIterator[World]:
    async with open_world(fake, repo, data_dir, clock) as w:
        yield w


@asynccontextmanager
async def serve_admin(world: World, *, redirect_base: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """Our HTTP server with the lifecycle routes behind the real auth gate; a client holding the admin key."""
    router = Router(error_renderer=routing_error)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    accounts_lifecycle.register(router, world.life, redirect_base=redirect_base,
                                fallback_base=f"http://127.0.0.1:{port}")
    server = HttpServer(Gateway(router, Authenticator(ADMIN_KEY, proxy_auth_required=False)), ServerLimits())
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listeners)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20,
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"}) as client:
            yield client
        nursery.cancel_scope.cancel()
