"""The Anthropic Messages surface: ``POST /v1/messages`` (also ``?beta=true``), ``POST /v1/messages/count_tokens``
and Claude Code's telemetry sinks.

Per request: parse → (Claude Code niceties: a "Warmup" probe is answered here; a background task may be routed to
``clients.background_model``) → load the signature-cache entries the history can need → translate → the shared
pipeline (retries, peek, keep-alive ``ping``s, abort) → write the answer's signatures to the store. Errors come
back as Anthropic error bodies, so the SDKs raise their own exception types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from antigravityd.api.anthropic_plan import AnthropicPlan, encode_events, new_message_id
from antigravityd.api.dialect_state import DialectState
from antigravityd.api.errors import Dialect
from antigravityd.api.proxy import BadRequest, bool_field, client_error, parse_body, run_plan, upstream_count
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.http.sse import SSE_HEADERS
from antigravityd.translate.anthropic_extras import (
    background_task,
    is_warmup,
    warmup_events,
    warmup_message,
)
from antigravityd.translate.anthropic_request import translate_messages
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.count_tokens import estimate_tokens
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.session import anthropic_session_id
from antigravityd.translate.signature_keys import anthropic_keys

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]


async def _warmup(request: Request, model: str, stream: bool) -> Response | None:
    """Claude Code's "Warmup" probe: a fixed "OK" answer, no upstream call (seed-features §1.1.1)."""
    headers = [("x-warmup-intercepted", "true")]
    if not stream:
        return json_response(warmup_message(model, new_message_id()), headers=headers)
    writer = await request.stream(200, headers + SSE_HEADERS, "text/event-stream")
    await writer.finish(encode_events(warmup_events(model, new_message_id())))
    return None


def register(router: Router, services: Services, state: DialectState | None = None) -> None:
    state = state or DialectState.for_services(services)
    signatures, schemas = state.signatures, state.schemas
    clients = services.config.clients

    async def messages(request: Request) -> Response | None:
        try:
            body = parse_body(request, Dialect.ANTHROPIC)
            stream = bool_field(body, "stream", Dialect.ANTHROPIC)
        except BadRequest as e:
            return e.response
        model = body.get("model")
        if isinstance(model, str) and model and is_warmup(body):
            return await _warmup(request, model, stream)
        session_id = anthropic_session_id(body)
        target: object = model
        if clients.background_model and isinstance(model, str) and background_task(body):
            target = clients.background_model
        ctx = TranslateContext(request_id=request.request_id, session_id=session_id, signatures=signatures,
                               tool_loop_recovery=clients.tool_loop_recovery, schemas=schemas)

        def build(route: ModelRoute) -> AnthropicPlan:
            translated = translate_messages(body, route, ctx)
            return AnthropicPlan(translated, stream=stream, client_model=str(model), signatures=signatures)

        await signatures.prefetch(anthropic_keys(body, session_id))
        return await run_plan(request, services, dialect=Dialect.ANTHROPIC, model=target, stream=stream,
                              session_id=session_id, build=build)

    async def count_tokens(request: Request) -> Response:
        try:
            body = parse_body(request, Dialect.ANTHROPIC)
        except BadRequest as e:
            return e.response
        session_id = anthropic_session_id(body)
        try:
            route = services.catalog.resolve(body.get("model"))
            ctx = TranslateContext(request_id=request.request_id, session_id=session_id, signatures=signatures,
                                   tool_loop_recovery=clients.tool_loop_recovery, schemas=schemas)
            counted = translate_messages(body, route, ctx).count_request()
        except ClientError as e:
            return client_error(Dialect.ANTHROPIC, e)
        total = await upstream_count(services, route.upstream, counted)
        source = "upstream"
        if total is None:
            total, source = estimate_tokens(counted), "estimate"
        return json_response({"input_tokens": total}, headers=[("x-token-count-source", source)])

    async def discard(request: Request) -> Response:
        """Claude Code's telemetry: accepted and dropped (nothing of it is logged or stored)."""
        return json_response({})

    router.post("/v1/messages", messages)
    router.post("/v1/messages/count_tokens", count_tokens)
    router.post("/v1/api/event_logging", discard, watch_client=False)
    router.post("/v1/api/event_logging/batch", discard, watch_client=False)
