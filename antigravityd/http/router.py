"""A small method + path router.

Patterns are literal segments and ``{name}`` placeholders; ``{name:path}`` takes the rest of the path. A
placeholder may be followed by literal text in the same segment (``{model}:generateContent`` style paths are
matched as ``{model_action}`` and split by the handler, because model ids contain dots and dashes but never a
colon). HEAD falls back to the GET route. Unknown paths get 404, known paths with another method 405 — both as
JSON, through the ``fallback`` renderer so each API family can answer in its own error format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from antigravityd.http.message import Request, Response, json_response

__all__ = ["Handler", "Route", "Router"]

Handler = Callable[[Request], Awaitable[Response | None]]
ErrorRenderer = Callable[[Request, int, str], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    name: str
    segments: tuple[str, ...]
    tail: str | None  # name of a trailing {x:path} placeholder
    watch_client: bool  # run the handler beside a disconnect watcher (long or streaming handlers)


def default_error(request: Request, status: int, message: str) -> Response:
    kind = {404: "not_found", 405: "method_not_allowed"}.get(status, "invalid_request_error")
    return json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


class Router:
    def __init__(self, error_renderer: ErrorRenderer = default_error) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        self._paths: dict[str, set[str]] = {}
        self.error_renderer = error_renderer

    def add(self, method: str, pattern: str, handler: Handler, name: str | None = None, *,
            watch_client: bool = True) -> None:
        """Add a route. ``watch_client=False`` is for handlers that answer at once: they skip the extra task
        that cancels a handler when its client disconnects."""
        segments = tuple(pattern.strip("/").split("/")) if pattern != "/" else ()
        tail = None
        if segments and segments[-1].endswith(":path}"):
            tail = segments[-1][1:-len(":path}")]
            segments = segments[:-1]
        route = Route(method.upper(), pattern, handler, name or pattern, segments, tail, watch_client)
        if route.method in self._paths.get(pattern, ()):
            # Two modules claiming one route would otherwise be settled silently by registration order.
            raise ValueError(f"route {route.method} {pattern} registered twice")
        if "{" in pattern:
            self._dynamic.append(route)
        else:
            self._static[(route.method, pattern)] = route
        self._paths.setdefault(pattern, set()).add(route.method)

    def get(self, pattern: str, handler: Handler, name: str | None = None, *, watch_client: bool = True) -> None:
        self.add("GET", pattern, handler, name, watch_client=watch_client)

    def post(self, pattern: str, handler: Handler, name: str | None = None, *, watch_client: bool = True) -> None:
        self.add("POST", pattern, handler, name, watch_client=watch_client)

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], frozenset[str]]:
        """(route, params, allowed methods for this path). route is None when nothing matched this method."""
        lookup = "GET" if method == "HEAD" else method
        route = self._static.get((lookup, path))
        if route is not None:
            return route, {}, _NONE  # the result lives as long as the request: no set of its own
        allowed: set[str] = set()
        static_methods = {m for (m, p) in self._static if p == path}
        allowed |= static_methods
        parts = path.strip("/").split("/") if path != "/" else []
        for candidate in self._dynamic:
            params = _match(candidate, parts)
            if params is None:
                continue
            if candidate.method == lookup:
                return candidate, params, _NONE
            allowed.add(candidate.method)
        return None, {}, frozenset(allowed)

    def prepare(self, request: Request) -> Route | None:
        """Resolve once and remember the result on the request (the server asks before the app runs)."""
        if "router.resolved" not in request.context:
            route, params, allowed = self.resolve(request.method, request.path)
            request.context["router.resolved"] = (route, params, allowed)
            if route is not None:
                request.route, request.route_params = route.name, params
        return request.context["router.resolved"][0]

    def watch_client(self, request: Request) -> bool:
        route = self.prepare(request)
        return route is not None and route.watch_client

    def handler_for(self, request: Request) -> Handler:
        """The matching route's handler, or one that answers 404/405, for the caller to await."""
        route = self.prepare(request)
        return route.handler if route is not None else self._not_routed

    async def __call__(self, request: Request) -> Response | None:
        return await self.handler_for(request)(request)

    async def _not_routed(self, request: Request) -> Response:
        _, _, allowed = request.context["router.resolved"]
        if allowed:
            response = self.error_renderer(request, 405, f"method {request.method} not allowed on {request.path}")
            response.headers.append(("allow", ", ".join(sorted(allowed))))
            return response
        return self.error_renderer(request, 404, f"no route for {request.path}")


_NONE: frozenset[str] = frozenset()


def _match(route: Route, parts: list[str]) -> dict[str, str] | None:
    segments = route.segments
    if route.tail is None:
        if len(parts) != len(segments):
            return None
    elif len(parts) <= len(segments):
        return None
    params: dict[str, str] = {}
    for seg, part in zip(segments, parts, strict=False):
        if seg.startswith("{") and seg.endswith("}"):
            if not part:
                return None
            params[seg[1:-1]] = part
        elif seg != part:
            return None
    if route.tail is not None:
        params[route.tail] = "/".join(parts[len(segments):])
    return params
