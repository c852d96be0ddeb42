"""``GET /api/status`` (what the web UI's login checks the key with, and its header shows) and ``GET /api/config``
(the effective settings, read-only, secrets masked exactly as ``antigravityd config show`` masks them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from antigravityd.api.admin_common import admin_handler, epoch
from antigravityd.cli.config_cmd import MASK, _display
from antigravityd.config import Config
from antigravityd.config_loading import SETTINGS, get_value
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.version import __version__, git_revision

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["effective_settings", "register"]


def _hide_userinfo(value: Any) -> Any:
    """Not a secret by declaration, but a URL may still carry credentials (a sync remote, an upstream base)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc=MASK + "@" + parts.netloc.rpartition("@")[2]))


def _masked(setting_key: str, value: Any) -> Any:
    s = SETTINGS[setting_key]
    if s.secret:
        return _display(s, value)  # exactly what `config show` prints
    if isinstance(value, list):
        return [_hide_userinfo(x) for x in value]
    return _hide_userinfo(value)


def effective_settings(config: Config) -> list[dict[str, Any]]:
    rows = []
    for s in SETTINGS.values():
        value = get_value(config, s.key)
        rows.append({"key": s.key, "value": _masked(s.key, value), "default": _masked(s.key, s.default),
                     "is_default": value == s.default, "doc": s.doc, "env": s.env, "secret": s.secret})
    return rows


def register(router: Router, services: Services, *, extra_status: Callable[[], dict[str, Any]] | None = None) -> None:
    """``extra_status`` adds sections to ``/api/status`` (e.g. the mapping sync's last round)."""
    started_wall = time.time()
    started = time.monotonic()

    @admin_handler
    async def status(request: Request) -> Response:
        accounts = services.registry.accounts
        in_flight = services.pool.in_flight()
        body: dict[str, Any] = {
            "version": __version__,
            "git_revision": git_revision(),
            "backend": services.repo.backend,
            "accounts": {
                "total": len(accounts),
                "usable": sum(1 for a in accounts.values() if a.serves_traffic),
                "disabled": sum(1 for a in accounts.values() if a.disabled),
                "proxy_disabled": sum(1 for a in accounts.values() if a.proxy_disabled and not a.disabled),
            },
            "accounts_loaded": services.registry.state.loaded,
            "in_flight": sum(in_flight.values()),
            "uptime_seconds": round(time.monotonic() - started, 1),
            "started_at": epoch(started_wall),
            "auth_required_for_proxy": services.config.auth_required,
        }
        if extra_status is not None:
            body.update(extra_status())
        return json_response(body)

    @admin_handler
    async def config(request: Request) -> Response:
        return json_response({"settings": effective_settings(services.config),
                              "note": "read-only: edit the config file (antigravityd config set) and restart; "
                                      "secrets are masked"})

    router.get("/api/status", status, watch_client=False)
    router.get("/api/config", config, watch_client=False)
