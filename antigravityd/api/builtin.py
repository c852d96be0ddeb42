"""Built-in endpoints: liveness, readiness, version and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import trio

from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.http.sse import SSE_HEADERS, SSEWriter
from antigravityd.monitor.metrics import CONTENT_TYPE, Metrics
from antigravityd.version import __version__, git_revision

__all__ = ["register"]

MAX_SYNTHETIC_EVENTS = 100_000
MAX_SYNTHETIC_INTERVAL = 10.0

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
        # The pid tells a deploy's health check which of two overlapping instances answered.
        return json_response({"version": __version__, "git_revision": git_revision(), "pid": os.getpid()})

    async def prometheus(request: Request) -> Response:
        for hook in metrics.before_render:
            hook()  # snapshots of trio-owned state, taken on the trio thread
        # Rendering is synchronous and takes milliseconds for a large registry (stack-notes §7): not on the loop.
        body = await trio.to_thread.run_sync(metrics.render)
        return Response(200, body, content_type=CONTENT_TYPE)

    async def synthetic_stream(request: Request) -> Response | None:
        """An SSE stream of N small events, for checking that proxies in front do not buffer (and for the
        restart and throughput tests). Admin-only, bounded."""
        try:
            events = int(request.query.get("events", "10"))
            interval = float(request.query.get("interval_ms", "0")) / 1000
        except ValueError:
            return json_response({"error": {"message": "events and interval_ms must be numbers"}}, status=400)
        if not (0 < events <= MAX_SYNTHETIC_EVENTS and 0 <= interval <= MAX_SYNTHETIC_INTERVAL):
            return json_response({"error": {"message": f"events must be 1..{MAX_SYNTHETIC_EVENTS}, interval_ms "
                                                       f"0..{int(MAX_SYNTHETIC_INTERVAL * 1000)}"}}, status=400)
        sse = SSEWriter(await request.stream(200, SSE_HEADERS, "text/event-stream"))
        for i in range(events):
            if interval:
                await trio.sleep(interval)
            await sse.send({"index": i, "of": events})
        await sse.send(b"[DONE]")
        return None

    router.get("/health", health, watch_client=False)
    router.get("/healthz", health, watch_client=False)
    router.get("/api/health", ready, watch_client=False)
    router.get("/version", version, watch_client=False)
    router.get("/metrics", prometheus, watch_client=False)
    router.get("/api/diagnostics/stream", synthetic_stream)
