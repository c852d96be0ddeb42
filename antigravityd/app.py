"""The request-handling chain in front of the router: CORS, authentication, and the per-request bookkeeping
(metrics and the access log) that the HTTP server reports through ``on_complete``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from antigravityd.api.admin_guard import AdminGuard
from antigravityd.api.auth import Authenticator
from antigravityd.api.errors import dialect_for_path, error_body, error_response
from antigravityd.http.message import Request, Response
from antigravityd.http.router import Router
from antigravityd.http.server import Completed
from antigravityd.monitor.metrics import Metrics

__all__ = ["AccessLog", "Gateway", "routing_error"]

access_log = logging.getLogger("antigravityd.access")


def routing_error(request: Request, status: int, message: str) -> Response:
    return error_response(dialect_for_path(request.path), status, message)


def server_error_body(path: str | None, status: int, message: str) -> dict:
    return error_body(dialect_for_path(path or "/"), status, message)


class Gateway:
    """The app the HTTP server calls: the admin guard, CORS preflight, auth — synchronous screens — then the route's
    handler, awaited directly (every layer of ``await`` would be a frame kept alive for as long as a stream runs)."""

    def __init__(self, router: Router, auth: Authenticator, *, cors_origins: Sequence[str] = (),
                 guard: AdminGuard | None = None) -> None:
        self.router = router
        self.auth = auth
        self.cors_origins = frozenset(cors_origins)
        self.guard = guard

    def watch_client(self, request: Request) -> bool:
        return self.router.watch_client(request)

    async def __call__(self, request: Request) -> Response | None:
        early = self.screen(request)
        if early is not None:
            return early
        return await self.router.handler_for(request)(request)

    def screen(self, request: Request) -> Response | None:
        """An answer of our own (429 blocked, CORS preflight, 401), or None to let the route handle it."""
        if self.guard is not None and (blocked := self.guard.screen(request)) is not None:
            return blocked
        origin = request.headers.get("origin")
        if origin and origin in self.cors_origins:
            request.response_headers.extend([("access-control-allow-origin", origin), ("vary", "Origin")])
            if request.method == "OPTIONS":
                return Response(204, b"", content_type=None, headers=[
                    ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                    ("access-control-allow-headers", request.headers.get("access-control-request-headers") or "*"),
                    ("access-control-max-age", "3600"),
                ])
        if self.auth.needs_key(request.path) and not self.auth.check(request):
            request.route = "auth"
            return error_response(dialect_for_path(request.path), 401, "missing or invalid API key",
                                  code="invalid_api_key", headers=[("www-authenticate", "Bearer")])
        return None


class AccessLog:
    """Turns every finished exchange into a metric observation and one metadata-only log line."""

    def __init__(self, metrics: Metrics, *, log_requests: bool) -> None:
        self.metrics = metrics
        self.log_requests = log_requests

    def __call__(self, done: Completed) -> None:
        self.metrics.observe_http(done.route, done.status, done.duration, done.aborted)
        if not self.log_requests:
            return
        fields = {
            "REQUEST_ID": done.request_id,
            "METHOD": done.method,
            "PATH": done.path,  # never the query string: it may carry ?key=
            "STATUS": done.status,
            "DURATION_MS": round(done.duration * 1000, 1),
        }
        context = done.request.context if done.request is not None else {}
        for key in ("ACCOUNT", "MODEL", "DIALECT"):
            if key in context:
                fields[key] = context[key]
        level = logging.WARNING if done.status >= 500 or done.aborted else logging.INFO
        access_log.log(level, "%s %s %d", done.method, done.path, done.status, extra=fields)
