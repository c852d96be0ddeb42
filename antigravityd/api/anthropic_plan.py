"""The pipeline :class:`~antigravityd.pipeline.plan.Plan` of an Anthropic Messages request.

It wraps the pure pieces — the translated request (``translate.anthropic_request``) and a fresh stream translator
per attempt (``translate.anthropic_stream``) — and adds what only the HTTP side knows: per-attempt request ids,
SSE framing (``event: <type>`` + ``data:``), Anthropic's ``ping`` keep-alive, the in-stream ``error`` event, and
the signature cache the answer's signatures go to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from antigravityd.http.message import Response, json_response
from antigravityd.http.sse import encode_event
from antigravityd.outcomes import Failure, FailureKind
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.translate.anthropic_request import AnthropicRequest
from antigravityd.translate.anthropic_stream import AnthropicStreamTranslator
from antigravityd.translate.context import random_id

__all__ = ["PING", "AnthropicPlan", "anthropic_error_event", "encode_events"]

PING = encode_event({"type": "ping"}, "ping")
_OVERLOADED = frozenset({FailureKind.CAPACITY, FailureKind.RATE_LIMITED, FailureKind.QUOTA_EXHAUSTED,
                         FailureKind.RESOURCE_EXHAUSTED})


def encode_events(items: Sequence[tuple[str, Any]]) -> bytes:
    return b"".join(encode_event(data, name) for name, data in items)


def anthropic_error_event(kind: str, message: str) -> bytes:
    return encode_event({"type": "error", "error": {"type": kind, "message": message}}, "error")


def new_message_id() -> str:
    return random_id("msg_01", 22)


class AnthropicPlan:
    dialect = "anthropic"

    def __init__(self, translated: AnthropicRequest, *, stream: bool, client_model: str,
                 signatures: StoredSignatureCache) -> None:
        self.translated = translated
        self.stream = stream
        self.client_model = client_model
        self.upstream_model = translated.route.upstream
        self.signatures = signatures

    @property
    def upstream_headers(self) -> dict[str, str]:  # a property: the signature rewrite may turn thinking off
        return self.translated.upstream_headers

    def envelope(self, project: str) -> dict[str, Any]:
        return self.translated.envelope(project, f"agent-{uuid.uuid4()}")

    def rewrite_signatures(self) -> bool:
        return self.translated.rewrite_signatures()

    def new_translator(self) -> AnthropicStreamTranslator:
        t = self.translated
        return AnthropicStreamTranslator(model=self.client_model, family=t.family, session_id=t.ctx.session_id,
                                         message_id=new_message_id(), stop_sequences=t.stop_sequences,
                                         collect=not self.stream)

    def content_type(self) -> str:
        return "text/event-stream"

    def encode(self, items: Sequence[Any]) -> bytes:
        return encode_events(items)

    def keepalive(self) -> bytes:
        return PING

    def abort_bytes(self, failure: Failure) -> bytes:
        kind = "overloaded_error" if failure.kind in _OVERLOADED else "api_error"
        return anthropic_error_event(kind, failure.message or f"upstream failure: {failure.kind.value}")

    def respond(self, translator: AnthropicStreamTranslator) -> Response:  # type: ignore[override]
        return json_response(translator.message())

    def usage(self, translator: AnthropicStreamTranslator) -> tuple[int, int, int, int]:  # type: ignore[override]
        u = translator.usage
        return u.prompt, u.candidates, u.cached, u.thoughts

    def remember(self, translator: AnthropicStreamTranslator) -> None:  # type: ignore[override]
        self.signatures.remember(translator.seen)
