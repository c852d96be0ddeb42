"""The OpenAI Responses API (``POST /v1/responses``, what Codex speaks) and legacy ``POST /v1/completions``.

Same shape as every dialect endpoint: parse → load the signature-cache entries the input can need → translate →
the shared pipeline → persist the answer's signatures. Errors are OpenAI error objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from antigravityd.api.dialect_state import DialectState
from antigravityd.api.errors import Dialect
from antigravityd.api.openai_plans import CompletionsPlan, ResponsesPlan
from antigravityd.api.proxy import BadRequest, bool_field, parse_body, run_plan
from antigravityd.http.message import Request, Response
from antigravityd.http.router import Router
from antigravityd.translate.completions import translate_completion
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.responses_request import translate_responses
from antigravityd.translate.session import responses_session_id, session_id_from_texts
from antigravityd.translate.signature_keys import responses_keys

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]


def _session(body: dict[str, Any]) -> str:
    """Codex names its conversation in ``prompt_cache_key``; otherwise the usual text rule."""
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key.strip():
        return session_id_from_texts([f"prompt_cache_key:{key}"])
    return responses_session_id(body)


def register(router: Router, services: Services, state: DialectState | None = None) -> None:
    state = state or DialectState.for_services(services)
    signatures, schemas = state.signatures, state.schemas
    clients = services.config.clients

    async def responses(request: Request) -> Response | None:
        try:
            body = parse_body(request, Dialect.OPENAI)
            stream = bool_field(body, "stream", Dialect.OPENAI)
        except BadRequest as e:
            return e.response
        model = body.get("model")
        session_id = _session(body)
        ctx = TranslateContext(request_id=request.request_id, session_id=session_id, signatures=signatures,
                               tool_loop_recovery=clients.tool_loop_recovery, schemas=schemas)

        def build(route: ModelRoute) -> ResponsesPlan:
            translated = translate_responses(body, route, ctx)
            return ResponsesPlan(translated, stream=stream, client_model=str(model), signatures=signatures)

        await signatures.prefetch(responses_keys(body, session_id))
        return await run_plan(request, services, dialect=Dialect.OPENAI, model=model, stream=stream,
                              session_id=session_id, build=build)

    async def completions(request: Request) -> Response | None:
        try:
            body = parse_body(request, Dialect.OPENAI)
            stream = bool_field(body, "stream", Dialect.OPENAI)
        except BadRequest as e:
            return e.response
        model = body.get("model")
        prompt = body.get("prompt")
        session_id = session_id_from_texts([prompt] if isinstance(prompt, str) else [], prompt)
        ctx = TranslateContext(request_id=request.request_id, session_id=session_id, schemas=schemas)

        def build(route: ModelRoute) -> CompletionsPlan:
            return CompletionsPlan(translate_completion(body, route, ctx), stream=stream, client_model=str(model))

        return await run_plan(request, services, dialect=Dialect.OPENAI, model=model, stream=stream,
                              session_id=session_id, build=build)

    router.post("/v1/responses", responses)
    router.post("/v1/completions", completions)
