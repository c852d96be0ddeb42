"""Pipeline plans for the OpenAI Responses API (``/v1/responses``) and legacy completions (``/v1/completions``).

Responses streams are ``event: <type>`` + ``data:`` frames with a ``sequence_number`` in every payload; a failure
after the first byte ends the stream with an ``error`` event continuing the count. Completions streams are bare
``data:`` chunks closed by ``data: [DONE]``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from antigravityd.http.message import Response, json_response
from antigravityd.http.sse import encode_event
from antigravityd.outcomes import Failure, FailureKind
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.translate.completions import CompletionRequest, CompletionStreamTranslator
from antigravityd.translate.context import random_id
from antigravityd.translate.responses_request import ResponsesRequest
from antigravityd.translate.responses_stream import ResponsesStreamTranslator

__all__ = ["DONE", "KEEPALIVE", "CompletionsPlan", "ResponsesPlan"]

KEEPALIVE = b": keep-alive\n\n"
DONE = "[DONE]"
_RATE = frozenset({FailureKind.RATE_LIMITED, FailureKind.QUOTA_EXHAUSTED, FailureKind.RESOURCE_EXHAUSTED})


def _error_code(failure: Failure) -> str:
    if failure.kind in _RATE:
        return "rate_limit_exceeded"
    if failure.kind is FailureKind.CAPACITY:
        return "server_is_overloaded"
    return "server_error"


class ResponsesPlan:
    dialect = "openai"

    def __init__(self, translated: ResponsesRequest, *, stream: bool, client_model: str,
                 signatures: StoredSignatureCache) -> None:
        self.translated = translated
        self.stream = stream
        self.client_model = client_model
        self.upstream_model = translated.route.upstream
        self.signatures = signatures
        self._current: ResponsesStreamTranslator | None = None

    @property
    def upstream_headers(self) -> dict[str, str]:
        return self.translated.upstream_headers

    def envelope(self, project: str) -> dict[str, Any]:
        return self.translated.envelope(project, f"openai-{uuid.uuid4()}")

    def rewrite_signatures(self) -> bool:
        return self.translated.rewrite_signatures()

    def new_translator(self) -> ResponsesStreamTranslator:
        t = self.translated
        self._current = ResponsesStreamTranslator(
            model=self.client_model, response_id=random_id("resp_", 32), created_at=int(time.time()),
            family=t.family, session_id=t.ctx.session_id, tool_names=t.tool_names, echo=t.echo,
            show_reasoning=t.show_reasoning, encrypted_reasoning=t.encrypted_reasoning)
        return self._current

    def content_type(self) -> str:
        return "text/event-stream"

    def encode(self, items: Sequence[Any]) -> bytes:
        return b"".join(encode_event(data, name) for name, data in items)

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def abort_bytes(self, failure: Failure) -> bytes:
        seq = self._current.sequence_number if self._current is not None else 0
        return encode_event({"type": "error", "sequence_number": seq, "code": _error_code(failure),
                             "message": failure.message or f"upstream failure: {failure.kind.value}",
                             "param": None}, "error")

    def respond(self, translator: ResponsesStreamTranslator) -> Response:  # type: ignore[override]
        return json_response(translator.response())

    def usage(self, translator: ResponsesStreamTranslator) -> tuple[int, int, int, int]:  # type: ignore[override]
        u = translator.usage
        return u.prompt, u.candidates, u.cached, u.thoughts

    def remember(self, translator: ResponsesStreamTranslator) -> None:  # type: ignore[override]
        self.signatures.remember(translator.seen)


class CompletionsPlan:
    dialect = "openai"

    def __init__(self, translated: CompletionRequest, *, stream: bool, client_model: str) -> None:
        self.translated = translated
        self.stream = stream
        self.client_model = client_model
        self.upstream_model = translated.route.upstream
        self.upstream_headers: dict[str, str] = {}

    def envelope(self, project: str) -> dict[str, Any]:
        return self.translated.envelope(project, f"openai-{uuid.uuid4()}")

    def rewrite_signatures(self) -> bool:
        return False

    def new_translator(self) -> _Completions:
        t = self.translated
        return _Completions(model=self.client_model, completion_id=random_id("cmpl-", 29),
                            created=int(time.time()), prompt=t.prompt, echo=t.echo, choices=t.choices)

    def content_type(self) -> str:
        return "text/event-stream"

    def encode(self, items: Sequence[Any]) -> bytes:
        return b"".join(b"data: " + (item.encode() if isinstance(item, str) else orjson.dumps(item)) + b"\n\n"
                        for item in items)

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def abort_bytes(self, failure: Failure) -> bytes:
        error = {"message": failure.message or failure.kind.value, "type": "server_error", "code": "stream_error"}
        return b"data: " + orjson.dumps({"error": error}) + b"\n\n"

    def respond(self, translator: _Completions) -> Response:  # type: ignore[override]
        return json_response(translator.completion(truncated=translator.truncated))

    def usage(self, translator: _Completions) -> tuple[int, int, int, int]:  # type: ignore[override]
        u = translator.usage
        return u.prompt, u.candidates, u.cached, u.thoughts

    def remember(self, translator: _Completions) -> None:  # type: ignore[override]
        return None


class _Completions(CompletionStreamTranslator):
    """The completions translator plus the stream terminator (``[DONE]``) the plan frames."""

    truncated = False

    def finish(self, *, truncated: bool) -> list[Any]:  # type: ignore[override]
        self.truncated = truncated
        return [*super().finish(truncated=truncated), DONE]
