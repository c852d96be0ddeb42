"""The long-lived services the daemon runs, opened and closed in one place.

``open_services`` builds them in dependency order — data dir and keys → metrics → store → account pool (loaded
from the store) → upstream and OAuth clients → token manager → request log → pipeline — and closes them in
reverse. The HTTP layer receives what it needs through ``register_routes``; long-lived work is handed to the
supervisor in ``start_background``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from antigravityd import __version__
from antigravityd.accounts.events import PoolEventWriter
from antigravityd.accounts.lifecycle import Lifecycle
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.accounts.tokens import TokenManager
from antigravityd.api import builtin
from antigravityd.api.auth import Authenticator, load_or_create_api_key
from antigravityd.config import Config
from antigravityd.config_loading import read_secret
from antigravityd.http.router import Router
from antigravityd.monitor.metrics import Metrics
from antigravityd.monitor.pool_metrics import PoolCollector
from antigravityd.monitor.recorder import RequestLogWriter
from antigravityd.pipeline.call import Call
from antigravityd.pipeline.catalog import Catalog
from antigravityd.pipeline.runner import Pipeline, PipelineSettings, Releases
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.retry import RetryPolicy
from antigravityd.routing.state import PoolEvent, PoolSettings
from antigravityd.store import Repository, StoreUnavailable, open_from_config
from antigravityd.store.retention import run_retention
from antigravityd.supervise import Supervisor
from antigravityd.sync.lww import MappingSync
from antigravityd.translate.schema import SchemaCache
from antigravityd.upstream.client import ClientSettings, CloudCodeClient, make_http_client
from antigravityd.upstream.oauth import OAuthClient

__all__ = ["Services", "open_services", "prepare_data_dir", "resolve_api_key"]

log = logging.getLogger("antigravityd")


@dataclass
class Services:
    config: Config
    metrics: Metrics
    authenticator: Authenticator
    data_dir: Path
    repo: Repository
    pool: AccountPool
    registry: AccountRegistry
    upstream: CloudCodeClient
    oauth: OAuthClient
    tokens: TokenManager
    recorder: RequestLogWriter
    pool_events: PoolEventWriter
    lifecycle: Lifecycle
    pipeline: Pipeline
    catalog: Catalog
    signatures: StoredSignatureCache
    mapping_sync: MappingSync
    schemas: SchemaCache = dataclasses.field(default_factory=SchemaCache)  # cleaned tool schemas, shared

    def register_routes(self, router: Router) -> None:
        builtin.register(router, metrics=self.metrics, readiness=self.readiness)
        from antigravityd.api import routes

        routes.register(router, self)

    def start_background(self, supervisor: Supervisor) -> None:
        supervisor.start("accounts-watch", self.registry.watch)
        supervisor.start("mappings-watch", self.catalog.watch)
        supervisor.start("mapping-sync", self.mapping_sync.run)
        supervisor.start("token-refresh", self.tokens.refresh_loop)
        supervisor.start("request-log", self.recorder.run)
        supervisor.start("pool-events", self.pool_events.run)
        supervisor.start("signature-writer", self.signatures.run)
        supervisor.start("keepalives", self.pipeline.keepalives.run)
        supervisor.start("relay-pacer", self.pipeline.pacer.run)
        self.lifecycle.start_background(supervisor)  # "quota-refresh" and "warmup"
        supervisor.start("retention", functools.partial(
            run_retention, self.repo, request_days=self.config.database.request_log_retention_days))

    async def before_shutdown(self) -> None:
        """After the HTTP server drained: write out every request-log row before tasks are cancelled."""
        await self.recorder.flush_and_close()
        with trio.move_on_after(5.0):
            await self.signatures.flush()

    async def readiness(self) -> list[str]:
        reasons = []
        try:
            with trio.fail_after(2.0):
                await self.repo.ping()
        except (StoreUnavailable, trio.TooSlowError):
            reasons.append("store unreachable")
        if not self.registry.state.loaded:
            reasons.append("accounts not loaded")
        return reasons

    def status_line(self) -> str:
        return self.registry.status()


def prepare_data_dir(config: Config) -> Path:
    path = config.data_path
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def resolve_api_key(config: Config, data_dir: Path) -> tuple[str, Path | None, bool]:
    """(key, file it lives in or None when configured inline/by file, created now)."""
    key = read_secret(config.security.api_key, config.security.api_key_file)
    if key:
        return key, None, False
    path = data_dir / "api.key"
    key, created = load_or_create_api_key(path)
    return key, path, created


def announce_api_key(key: str, path: Path, created: bool) -> None:
    """Show the generated key to a person at a terminal; never write it into logs or the journal."""
    if sys.stderr.isatty() and not os.environ.get("JOURNAL_STREAM"):
        verb = "generated" if created else "stored"
        print(f"antigravityd: API key ({verb} in {path}):\n  {key}", file=sys.stderr, flush=True)
    else:
        log.info("API key is in %s", path)


@asynccontextmanager
async def open_services(config: Config) -> AsyncIterator[Services]:
    data_dir = prepare_data_dir(config)
    key, key_path, created = resolve_api_key(config, data_dir)
    if key_path is not None:
        announce_api_key(key, key_path, created)
    metrics = Metrics()
    metrics.build_info.labels(__version__).set(1)

    async with AsyncExitStack() as stack:
        repo = await open_from_config(config)
        stack.push_async_callback(repo.aclose)
        releases = Releases()
        pool = AccountPool(PoolSettings.from_config(config.routing, config.quota), on_release=releases.notify)
        registry = AccountRegistry(repo, pool)
        await registry.reload()
        catalog = Catalog(repo, pool)
        await catalog.reload()

        upstream_settings = ClientSettings.from_config(config)
        http = make_http_client(upstream_settings)
        stack.push_async_callback(http.aclose)
        upstream = CloudCodeClient(upstream_settings, http)
        oauth = OAuthClient.from_config(config.oauth, http)
        tokens = TokenManager(registry, repo, oauth, upstream, default_project=config.upstream.default_project,
                              on_result=lambda result: metrics.token_refreshes.labels(result).inc())
        recorder = RequestLogWriter.from_config(repo, config, registry=metrics.registry)
        pool_events = PoolEventWriter(repo, pool, on_drop=metrics.pool_events_dropped.inc)
        lifecycle = Lifecycle.build(config, repo=repo, registry=registry, tokens=tokens, upstream=upstream,
                                    oauth=oauth, pool_events=pool_events,
                                    on_quota_result=lambda r: metrics.quota_refreshes.labels(r).inc(),
                                    on_warmup_result=lambda r: metrics.warmups.labels(r).inc())

        def on_pool_events(events: list[PoolEvent]) -> None:
            """Persist what the pool decided; a QUOTA_EXHAUSTED also asks for an early quota refresh."""
            pool_events(events)
            lifecycle.quota.observe(events)

        collector = PoolCollector(pool)
        metrics.registry.register(collector)
        metrics.before_render.append(collector.snapshot)

        def record_call(call: Call) -> None:
            """The pipeline's last word on a request: the request log (metadata only) and metrics."""
            recorder.record(call.record())
            end = call.finished if call.finished is not None else call.started
            metrics.observe_call(call.dialect, call.upstream_model, call.status, end - call.started,
                                 call.first_byte - call.started if call.first_byte is not None else None,
                                 call.attempts, call.failures, call.truncated, call.aborted)

        pipeline = Pipeline(
            pool, tokens, upstream,
            settings=PipelineSettings(
                first_byte_timeout=config.upstream.first_byte_timeout,
                max_wait_for_account=config.routing.max_wait_for_lockout,
                max_wait_for_capacity=config.routing.max_wait_for_capacity,
                expose_account_email=config.security.expose_account_email,
                retry=RetryPolicy(max_attempts=config.upstream.max_attempts),
            ),
            releases=releases,
            record=record_call,
            pool_events=on_pool_events,
        )
        metrics.track(metrics.loop_busy, lambda: pipeline.pacer.busy)
        metrics.track(metrics.relay_pacing, lambda: float(pipeline.pacer.saturated))
        services = Services(
            config=config, metrics=metrics,
            authenticator=Authenticator(key, proxy_auth_required=config.auth_required),
            data_dir=data_dir, repo=repo, pool=pool, registry=registry, upstream=upstream, oauth=oauth,
            tokens=tokens, recorder=recorder, pool_events=pool_events, lifecycle=lifecycle, pipeline=pipeline,
            catalog=catalog,
            signatures=StoredSignatureCache(repo, counter=metrics.signature_cache),
            mapping_sync=MappingSync(repo, remote=config.sync.remote, api_key=key, interval=config.sync.interval,
                                     tombstone_ttl=config.sync.tombstone_ttl),
        )
        yield services
