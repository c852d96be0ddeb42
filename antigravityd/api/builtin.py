"""Built-in endpoints: liveness, readiness, version and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.monitor.metrics import CONTENT_TYPE, Metrics
from antigravityd.version import __version__, git_revision

__all__ = ["register"]

Readiness = Callable[[], Awaitable[list[str]]]
"""Returns the reasons the daemon is not ready; an empty list means ready."""


def register(router: Router, *, metrics: Metrics, readiness: Readiness) -> None:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        reasons = await readiness()
        if reasons:
            return json_response({"status": "unavailable", "reasons": reasons}, status=503)
        return json_response({"status": "ok"})

    async def version(request: Request) -> Response:
        return json_response({"version": __version__, "git_revision": git_revision()})

    async def prometheus(request: Request) -> Response:
        # Rendering is synchronous and takes milliseconds for a large registry (stack-notes §7): not on the loop.
        body = await trio.to_thread.run_sync(metrics.render)
        return Response(200, body, content_type=CONTENT_TYPE)

    router.get("/health", health)
    router.get("/healthz", health)
    router.get("/api/health", ready)
    router.get("/version", version)
    router.get("/metrics", prometheus)
