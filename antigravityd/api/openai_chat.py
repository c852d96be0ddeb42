"""OpenAI Chat Completions: ``POST /v1/chat/completions``.

Per request: parse → load the signature-cache entries the history can need → translate (pure) → the shared
pipeline (peek, retries, keep-alive comments, abort) → write the answer's signatures to the store. A streaming
client gets ``data: <chunk>`` events ending with ``data: [DONE]``; a non-streaming one the ``chat.completion``
built from the very same translator state. Errors are OpenAI error objects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from antigravityd.api.errors import Dialect
from antigravityd.api.proxy import BadRequest, bool_field, parse_body, run_plan
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.http.sse import encode_event
from antigravityd.outcomes import Failure
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.translate.context import TranslateContext, random_id
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.openai_chat import chat_request_to_upstream
from antigravityd.translate.openai_chat_stream import ChatStreamTranslator
from antigravityd.translate.session import openai_session_id
from antigravityd.translate.signatures import content_key, without_signatures

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["OpenAIChatPlan", "register"]

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


class _Finishing:
    """Wraps the chunk translator so the stream ends with ``[DONE]`` (framing belongs to the API layer)."""

    def __init__(self, inner: ChatStreamTranslator) -> None:
        self.inner = inner

    def feed(self, event: Any) -> list[Any]:
        return self.inner.feed(event)

    def finish(self, *, truncated: bool) -> list[Any]:
        return [*self.inner.finish(truncated=truncated), DONE]


class OpenAIChatPlan:
    dialect = "openai"

    def __init__(self, request: dict[str, Any], route: ModelRoute, ctx: TranslateContext, *, stream: bool,
                 client_model: str, include_usage: bool, signatures: StoredSignatureCache) -> None:
        self.request = request
        self.route = route
        self.ctx = ctx
        self.stream = stream
        self.client_model = client_model
        self.include_usage = include_usage
        self.upstream_model = route.upstream
        self.upstream_headers: dict[str, str] = {}
        self.signatures = signatures
        self.completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.created = int(ctx.now)

    def envelope(self, project: str) -> dict[str, Any]:
        ctx = TranslateContext(request_id=f"openai-{uuid.uuid4()}", session_id=self.ctx.session_id,
                               signatures=self.ctx.signatures, project=project, now=self.ctx.now)
        return build_envelope(self.request, self.route, ctx)

    def rewrite_signatures(self) -> bool:
        """After a signature 400: thoughts dropped, calls re-signed with the sentinel (Gemini) or thinking off."""
        rewritten = without_signatures(self.request, self.route.family)
        changed = rewritten != self.request
        self.request = rewritten
        return changed

    def new_translator(self) -> _Finishing:
        return _Finishing(ChatStreamTranslator(self.client_model, self.completion_id, self.created,
                                               self.include_usage, family=self.route.family,
                                               session_id=self.ctx.session_id))

    def content_type(self) -> str:
        return "text/event-stream"

    def encode(self, items: Sequence[Any]) -> bytes:
        return b"".join(item if isinstance(item, bytes) else encode_event(item) for item in items)

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def abort_bytes(self, failure: Failure) -> bytes:
        return b""  # the connection is cut: no [DONE], so clients see an incomplete stream and retry

    def respond(self, translator: _Finishing) -> Response:  # type: ignore[override]
        return json_response(translator.inner.completion())

    def usage(self, translator: _Finishing) -> tuple[int, int, int, int]:  # type: ignore[override]
        u = translator.inner.usage
        return u.prompt, u.candidates, u.cached, u.thoughts

    def remember(self, translator: _Finishing) -> None:  # type: ignore[override]
        self.signatures.remember(translator.inner.signatures)


def openai_keys(body: dict[str, Any], session_id: str | None) -> list[tuple[str, str]]:
    """Signature-cache keys this request may need: recent tool-call ids and returned reasoning text."""
    keys: list[tuple[str, str]] = []
    messages = body.get("messages")
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"] \
        if isinstance(messages, list) else []
    for message in reversed(assistants[-8:]):
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                keys.append(("tool_call", call["id"]))
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            keys.append(("content", content_key(reasoning)))
    if session_id and assistants:  # a first turn replays nothing: no lookup at all
        keys.append(("session", session_id))
    return keys


def register(router: Router, services: Services, signatures: StoredSignatureCache) -> None:
    async def chat_completions(request: Request) -> Response | None:
        try:
            body = parse_body(request, Dialect.OPENAI)
            stream = bool_field(body, "stream", Dialect.OPENAI)
        except BadRequest as e:
            return e.response
        options = body.get("stream_options")
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        model = body.get("model")
        session_id = openai_session_id(body)
        ctx = TranslateContext(request_id=request.request_id, session_id=session_id, signatures=signatures,
                               schemas=services.schemas, now=time.time(), new_id=random_id)

        def build(route: ModelRoute) -> OpenAIChatPlan:
            return OpenAIChatPlan(chat_request_to_upstream(body, route, ctx), route, ctx, stream=stream,
                                  client_model=str(model), include_usage=include_usage, signatures=signatures)

        await signatures.prefetch(openai_keys(body, session_id))  # type: ignore[arg-type]
        return await run_plan(request, services, dialect=Dialect.OPENAI, model=model, stream=stream,
                              session_id=session_id, build=build)

    router.post("/v1/chat/completions", chat_completions)
    router.post("/chat/completions", chat_completions)  # clients configured with a base URL without /v1
