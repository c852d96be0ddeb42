"""One ``streamGenerateContent`` answer as an async iterator of events (upstream-protocol.md §3.4)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

import httpx
import orjson

from .errors import UpstreamError, classify_response, classify_transport
from .sse import HEARTBEAT, Heartbeat, SSEDecoder, SSEError, SSEEvent

__all__ = ["UpstreamStream"]


class UpstreamStream:
    """The events of one ``streamGenerateContent`` answer, as the unwrapped ``response`` objects.

    ``async for event in stream`` yields dicts; ``stream.with_heartbeats()`` also yields :data:`HEARTBEAT` for SSE
    comment lines. ``[DONE]`` and empty events are skipped; an unparsable event is counted in ``malformed`` and
    skipped (§3.4). Transport failures while reading raise :class:`UpstreamError`. After the last event,
    ``finish_reason`` tells whether the stream ended properly (None = truncated).
    """

    def __init__(self, response: httpx.Response, base_url: str, *, model: str | None, max_line: int) -> None:
        self.response = response
        self.base_url = base_url
        self.model = model
        self.trace_id = response.headers.get("x-cloudaicompanion-trace-id")
        self.events = 0
        self.heartbeats = 0
        self.malformed = 0
        self.finish_reason: str | None = None
        self._decoder = SSEDecoder(max_line)
        # Unencoded bodies are read straight from the transport's stream: httpx's decoding and re-chunking
        # generators cost a few percent per event and do nothing for identity bodies.
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        raw = response.stream
        self._chunks: AsyncIterator[bytes] = (
            raw.__aiter__() if encoding in ("", "identity") and isinstance(raw, httpx.AsyncByteStream)
            else response.aiter_bytes())
        self._pending: deque[dict | Heartbeat] = deque()
        self._eof = False

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> dict:
        while True:
            item = await self._next_item()
            if item is not HEARTBEAT:
                return item  # type: ignore[return-value]

    @property
    def buffered(self) -> bool:
        """Events already decoded and waiting: the next ``__anext__`` needs no I/O (writers batch on this)."""
        return bool(self._pending)

    def with_heartbeats(self) -> AsyncIterator[dict | Heartbeat]:
        return _WithHeartbeats(self)

    async def _next_item(self) -> dict | Heartbeat:
        while not self._pending:
            if self._eof:
                raise StopAsyncIteration
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._eof = True
                self._accept(self._decoder.close())
                continue
            except httpx.TransportError as exc:
                raise UpstreamError(classify_transport(exc, model=self.model), base_url=self.base_url) from exc
            try:
                self._accept(self._decoder.feed(chunk))
            except SSEError as exc:
                raise UpstreamError(classify_transport(exc, model=self.model), base_url=self.base_url) from exc
        return self._pending.popleft()

    def _accept(self, items: list[SSEEvent | Heartbeat]) -> None:
        for item in items:
            if item is HEARTBEAT:
                self.heartbeats += 1
                self._pending.append(HEARTBEAT)
                continue
            data = item.data.strip()  # type: ignore[union-attr]
            if not data or data == "[DONE]":
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if not isinstance(obj, dict):
                self.malformed += 1
                continue
            if "response" not in obj and isinstance(obj.get("error"), dict):
                code = obj["error"].get("code")
                status = code if isinstance(code, int) and 400 <= code <= 599 else 500
                raise UpstreamError(classify_response(status, data.encode(), model=self.model),
                                    base_url=self.base_url)
            response = obj.get("response", obj)
            if not isinstance(response, dict):
                self.malformed += 1
                continue
            for candidate in response.get("candidates") or ():
                if isinstance(candidate, dict) and candidate.get("finishReason"):
                    self.finish_reason = candidate["finishReason"]
            self.events += 1
            self._pending.append(response)


class _WithHeartbeats:
    def __init__(self, stream: UpstreamStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _WithHeartbeats:
        return self

    async def __anext__(self) -> dict | Heartbeat:
        return await self._stream._next_item()
