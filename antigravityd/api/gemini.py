"""The Gemini API surface: ``POST /v1beta/models/{model}:{action}`` and the same under ``/v1/models/…``
(google-genai for Python calls ``/v1``, gemini-cli ``/v1beta``).

Actions: ``generateContent``, ``streamGenerateContent`` (SSE with ``?alt=sse``; without it the public API's JSON
array, streamed element by element) and ``countTokens``. The client's body is already a
``GenerateContentRequest``: the translator wraps it in the ``v1internal`` envelope (identity prompt, schema
cleaning, signatures, thinking limits) and unwraps the answer. Errors are Google error objects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from antigravityd.api.errors import Dialect, error_response
from antigravityd.api.proxy import BadRequest, client_error, parse_body, run_plan, upstream_count
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.http.sse import encode_event
from antigravityd.outcomes import Failure
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.errors import ClientError
from antigravityd.translate.gemini_native import count_tokens_request, gemini_request_to_upstream
from antigravityd.translate.gemini_stream import GeminiStreamTranslator
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.session import gemini_session_id
from antigravityd.translate.signatures import without_signatures

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["GeminiPlan", "register"]

KEEPALIVE = b": keep-alive\n\n"
ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


class _ArrayFraming:
    """The JSON-array stream of ``streamGenerateContent`` without ``alt=sse``: ``[`` obj ``,`` obj … ``]``."""

    def __init__(self) -> None:
        self.started = False

    def encode(self, items: Sequence[Any]) -> bytes:
        out = bytearray()
        for item in items:
            out += b"," if self.started else b"["
            self.started = True
            out += orjson.dumps(item)
        return bytes(out)

    def close(self) -> bytes:
        return b"]" if self.started else b"[]"


class _Closing:
    """Adds the array's closing bracket after the translator's last events."""

    def __init__(self, inner: GeminiStreamTranslator, framing: _ArrayFraming | None) -> None:
        self.inner = inner
        self.framing = framing

    def feed(self, event: Any) -> list[Any]:
        return self.inner.feed(event)

    def finish(self, *, truncated: bool) -> list[Any]:
        items: list[Any] = list(self.inner.finish(truncated=truncated))
        if self.framing is not None:
            items.append(_END)
        return items


_END = object()


class GeminiPlan:
    dialect = "gemini"

    def __init__(self, request: dict[str, Any], route: ModelRoute, ctx: TranslateContext, *, stream: bool,
                 sse: bool, client_model: str, signatures: StoredSignatureCache) -> None:
        self.request = request
        self.route = route
        self.ctx = ctx
        self.stream = stream
        self.sse = sse
        self.client_model = client_model
        self.upstream_model = route.upstream
        self.upstream_headers: dict[str, str] = {}
        self.signatures = signatures
        self._framing: _ArrayFraming | None = None

    def envelope(self, project: str) -> dict[str, Any]:
        ctx = TranslateContext(request_id=f"agent-{uuid.uuid4()}", session_id=self.ctx.session_id,
                               signatures=self.ctx.signatures, project=project, now=self.ctx.now)
        return build_envelope(self.request, self.route, ctx)

    def rewrite_signatures(self) -> bool:
        """After a signature 400: thoughts dropped, calls re-signed with the sentinel (Gemini) or thinking off."""
        rewritten = without_signatures(self.request, self.route.family)
        changed = rewritten != self.request
        self.request = rewritten
        return changed

    def new_translator(self) -> _Closing:
        self._framing = None if self.sse or not self.stream else _ArrayFraming()
        return _Closing(GeminiStreamTranslator(self.client_model, family=self.route.family,
                                               session_id=self.ctx.session_id), self._framing)

    def content_type(self) -> str:
        return "text/event-stream" if self.sse else "application/json"

    def encode(self, items: Sequence[Any]) -> bytes:
        if self._framing is None:
            return b"".join(encode_event(item) for item in items)
        out = b""
        for item in items:
            out += self._framing.close() if item is _END else self._framing.encode([item])
        return out

    def keepalive(self) -> bytes:
        return KEEPALIVE if self.sse else b""  # a JSON array has no room for keep-alives

    def abort_bytes(self, failure: Failure) -> bytes:
        return b""

    def respond(self, translator: _Closing) -> Response:  # type: ignore[override]
        return json_response(translator.inner.response())

    def usage(self, translator: _Closing) -> tuple[int, int, int, int]:  # type: ignore[override]
        u = translator.inner.usage
        return u.prompt, u.candidates, u.cached, u.thoughts

    def remember(self, translator: _Closing) -> None:  # type: ignore[override]
        self.signatures.remember(translator.inner.signatures)


def gemini_keys(body: dict[str, Any], session_id: str | None) -> list[tuple[str, str]]:
    """Replayed model turns may need the session's signature; a first turn needs nothing (no lookup)."""
    contents = body.get("contents")
    replays = isinstance(contents, list) and any(isinstance(c, dict) and c.get("role") == "model" for c in contents)
    return [("session", session_id)] if session_id and replays else []


def register(router: Router, services: Services, signatures: StoredSignatureCache) -> None:
    async def action(request: Request) -> Response | None:
        model, _, verb = request.route_params["model"].rpartition(":")
        if verb not in ACTIONS or not model:
            return error_response(Dialect.GEMINI, 404,
                                  f"unknown method {verb!r}; expected one of: {', '.join(ACTIONS)}")
        try:
            body = parse_body(request, Dialect.GEMINI)
        except BadRequest as e:
            return e.response
        if verb == "countTokens":
            return await count_tokens(model, body)
        stream = verb == "streamGenerateContent"
        sse = stream and request.query.get("alt", request.query.get("$alt")) == "sse"
        session_id = gemini_session_id(body)
        ctx = TranslateContext(request_id=request.request_id, session_id=session_id, signatures=signatures,
                               schemas=services.schemas, now=time.time(),
                               tool_loop_recovery=services.config.clients.tool_loop_recovery)

        def build(route: ModelRoute) -> GeminiPlan:
            return GeminiPlan(gemini_request_to_upstream(body, route, ctx), route, ctx, stream=stream, sse=sse,
                              client_model=model.removeprefix("models/"), signatures=signatures)

        await signatures.prefetch(gemini_keys(body, session_id))  # type: ignore[arg-type]
        return await run_plan(request, services, dialect=Dialect.GEMINI, model=model, stream=stream,
                              session_id=session_id, build=build)

    async def count_tokens(model: str, body: dict[str, Any]) -> Response:
        try:
            route = services.catalog.resolve(model)
            counted = count_tokens_request(body, route)["request"]
        except ClientError as e:
            return client_error(Dialect.GEMINI, e)
        total = await upstream_count(services, route.upstream, counted)
        if total is None:
            total = max(1, len(orjson.dumps(counted)) // 4)  # a rough estimate when no account can count now
        return json_response({"totalTokens": total})

    for prefix in ("/v1beta/models/{model}", "/v1/models/{model}"):
        router.post(prefix, action)
