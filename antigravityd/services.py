"""The long-lived services the daemon runs, opened and closed in one place.

``open_services`` builds them in dependency order (data dir and keys → metrics → store → account pool →
upstream client → …) and closes them in reverse. The HTTP layer receives the pieces it needs through
``register_routes``; background work is handed to the supervisor in ``start_background``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from antigravityd import __version__
from antigravityd.api import builtin
from antigravityd.api.auth import Authenticator, load_or_create_api_key
from antigravityd.config import Config, read_secret
from antigravityd.http.router import Router
from antigravityd.monitor.metrics import Metrics
from antigravityd.supervise import Supervisor

__all__ = ["Services", "open_services", "prepare_data_dir", "resolve_api_key"]

log = logging.getLogger("antigravityd")


@dataclass
class Services:
    config: Config
    metrics: Metrics
    authenticator: Authenticator
    data_dir: Path
    notes: list[str] = field(default_factory=list)  # start-up facts for the status line

    def register_routes(self, router: Router) -> None:
        builtin.register(router, metrics=self.metrics, readiness=self.readiness)

    def start_background(self, supervisor: Supervisor) -> None:
        """Hand long-lived work to the supervisor (none yet in the bare daemon)."""

    async def before_shutdown(self) -> None:
        """Runs after the HTTP server drained and before background tasks are cancelled."""

    async def readiness(self) -> list[str]:
        return []

    def status_line(self) -> str:
        return "serving"


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
    services = Services(
        config=config,
        metrics=metrics,
        authenticator=Authenticator(key, proxy_auth_required=config.auth_required),
        data_dir=data_dir,
    )
    yield services
