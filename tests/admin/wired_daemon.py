"""``python -m tests.admin.wired_daemon --config F serve``: the real daemon, with the admin API, the mapping sync and
the brute-force guard wired in exactly as ``antigravityd/api/admin.py`` tells the lead to wire them.

Until that wiring is merged into ``services.py`` / ``api/routes.py`` / ``daemon.py``, the tests start the daemon
through this module. Each step checks whether the daemon already does it and then stays out of the way, so the
same tests run unchanged (and this file can be deleted) once the wiring is in. This is wiring, not a mock: every
handler, the store, the pool and the HTTP server are the daemon's own.

``AGD_TEST_TRUSTED_PROXIES`` (comma-separated) stands in for the trusted-proxies setting the lead will add.
"""

from __future__ import annotations

import os
import sys

import antigravityd.daemon as daemon_module
from antigravityd.api import admin, routes
from antigravityd.api.admin_guard import AdminGuard
from antigravityd.app import Gateway
from antigravityd.services import Services, resolve_api_key
from antigravityd.supervise import Supervisor


def _sync_for(services: Services):
    sync = getattr(services, "_test_admin_sync", None)
    if sync is None:
        key, _, _ = resolve_api_key(services.config, services.data_dir)
        sync = admin.mapping_sync(services, key)
        services._test_admin_sync = sync  # type: ignore[attr-defined]
    return sync


def install() -> None:
    original_register = routes.register
    original_background = Services.start_background

    def register(router, services: Services) -> None:
        original_register(router, services)
        if router.resolve("GET", "/api/status")[0] is None:
            admin.register(router, services, sync=_sync_for(services))

    def start_background(self: Services, supervisor: Supervisor) -> None:
        original_background(self, supervisor)
        if "mapping-sync" not in supervisor.tasks and getattr(self, "_test_admin_sync", None) is not None:
            supervisor.start("mapping-sync", _sync_for(self).run)

    routes.register = register
    Services.start_background = start_background  # type: ignore[method-assign]

    if not hasattr(daemon_module, "AdminGuard"):  # the daemon does not guard its gateway yet
        trusted = [p for p in os.environ.get("AGD_TEST_TRUSTED_PROXIES", "").split(",") if p.strip()]

        def guarded_gateway(router, auth, **kwargs):
            return AdminGuard(Gateway(router, auth, **kwargs), auth, trusted_proxies=trusted)

        daemon_module.Gateway = guarded_gateway  # type: ignore[assignment]


if __name__ == "__main__":
    install()
    from antigravityd.cli import main

    sys.exit(main(sys.argv[1:]))
