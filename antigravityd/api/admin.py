"""The admin API, the mapping-sync endpoints and the web UI in one registration call.

Wiring (what ``services.py`` / ``api/routes.py`` and ``daemon.py`` do)::

    sync = admin.mapping_sync(services, api_key)           # once, when the services are built
    admin.register(router, services, sync=sync)            # in routes.register
    supervisor.start("mapping-sync", sync.run)             # in start_background (also purges old tombstones)
    gateway = Gateway(router, services.authenticator, guard=AdminGuard(
        services.authenticator, trusted_proxies=config.security.trusted_proxies))   # daemon.py

Each ``admin_*`` module can also be registered on its own (``register(router, services)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from antigravityd.admin import static_files
from antigravityd.api import admin_accounts, admin_mappings, admin_monitor, admin_routing, admin_status, admin_sync
from antigravityd.http.router import Router
from antigravityd.sync.lww import MappingSync

if TYPE_CHECKING:
    from collections.abc import Callable

    from antigravityd.api.admin_mappings import Resolver
    from antigravityd.services import Services

__all__ = ["mapping_sync", "register"]


def mapping_sync(services: Services, api_key: str, *, instance_id: str | None = None) -> MappingSync:
    """The sync task for ``sync.remote`` / ``sync.interval`` (it only purges tombstones when no remote is set).
    ``api_key`` is sent to the remote: instances that sync share one key, as in the seed."""
    return MappingSync(services.repo, remote=services.config.sync.remote, api_key=api_key,
                       interval=services.config.sync.interval, instance_id=instance_id)


def register(router: Router, services: Services, *, sync: MappingSync | None = None,
             resolver: Callable[[], Resolver] | None = None, static_dir: str | Path | None = None) -> None:
    """Every ``/api/*`` admin route, ``/api/config/mapping``, and the UI at ``/`` and ``/ui/*``.

    ``resolver``: returns the daemon's live model resolver for the mapping tester (default: resolve against the
    store). ``static_dir``: overrides ``server.static_dir``.
    """
    admin_status.register(router, services, extra_status=sync.status if sync is not None else None)
    admin_accounts.register(router, services)
    admin_routing.register(router, services)
    admin_monitor.register(router, services)
    admin_mappings.register(router, services, resolver=resolver)
    admin_sync.register(router, services, instance_id=sync.instance_id if sync is not None else None)
    static_files.register(router, static_dir or services.config.server.static_dir or None)
