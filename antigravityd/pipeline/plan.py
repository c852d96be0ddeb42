"""What a client dialect hands the pipeline: how to build the upstream request and how to render the answer.

One :class:`Plan` per client request. The pipeline knows nothing of OpenAI, Anthropic or Gemini shapes; a plan
knows nothing of accounts, retries or sockets. A plan's translator is a pure state machine (``translate/``):
``feed(upstream_event) -> items``, ``finish(truncated=...) -> items``; the plan turns items into bytes for a
streaming client, or the finished translator into one JSON response for a non-streaming one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from antigravityd.http.message import Response
from antigravityd.outcomes import Failure

__all__ = ["Plan", "Translator"]


class Translator(Protocol):
    def feed(self, event: Mapping[str, Any]) -> Sequence[Any]: ...

    def finish(self, *, truncated: bool) -> Sequence[Any]: ...


class Plan(Protocol):
    dialect: str
    stream: bool
    upstream_model: str
    upstream_headers: Mapping[str, str]

    def envelope(self, project: str) -> Mapping[str, Any]:
        """The whole ``v1internal`` envelope for one attempt (only the project changes between accounts)."""

    def rewrite_signatures(self) -> bool:
        """After a signature 400: drop or replace thought signatures in the request. False = nothing to change."""

    def new_translator(self) -> Translator:
        """A fresh translator per attempt: an attempt that failed before output leaves no trace."""

    def content_type(self) -> str: ...

    def encode(self, items: Sequence[Any]) -> bytes:
        """Streaming: the bytes to send for translated items (SSE framing of the dialect)."""

    def keepalive(self) -> bytes:
        """Streaming: bytes that keep a silent stream alive (an SSE comment, or Anthropic's ``ping``)."""

    def abort_bytes(self, failure: Failure) -> bytes:
        """Streaming: the last bytes before the connection is cut after a failure (may be empty)."""

    def respond(self, translator: Translator) -> Response:
        """Non-streaming: the complete answer from the finished translator."""

    def usage(self, translator: Translator) -> tuple[int, int, int, int]:
        """(prompt incl. cached, output, cached, thinking) tokens seen so far."""

    def remember(self, translator: Translator) -> None:
        """After a successful answer: hand the signatures the translator saw to the signature cache."""
