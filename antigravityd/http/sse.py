"""Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).

Events are framed into bytes here and written with one ``send_all`` per batch: coalescing several events into
one write is the cheapest way to raise events/s (stack-notes §1d).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from antigravityd.http.message import BodyWriter

__all__ = ["SSE_HEADERS", "SSEWriter", "encode_event"]

SSE_HEADERS = [("cache-control", "no-cache"), ("x-accel-buffering", "no")]


def encode_event(data: object, event: str | None = None) -> bytes:
    """One event. ``data`` is JSON-encoded unless it is already ``bytes``/``str``.

    A multi-line payload becomes several ``data:`` lines, as the spec requires; JSON from orjson has no raw
    newlines, so the common case is one line.
    """
    if isinstance(data, bytes):
        payload = data
    elif isinstance(data, str):
        payload = data.encode()
    else:
        payload = orjson.dumps(data)
    if b"\n" in payload:
        payload = payload.replace(b"\r\n", b"\n").replace(b"\n", b"\ndata: ")
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"


class SSEWriter:
    """Writes SSE events to a streaming response body."""

    __slots__ = ("events_sent", "writer")

    def __init__(self, writer: BodyWriter) -> None:
        self.writer = writer
        self.events_sent = 0

    async def send(self, data: object, event: str | None = None) -> None:
        self.events_sent += 1
        await self.writer.write(encode_event(data, event))

    async def send_many(self, events: Iterable[tuple[str | None, object]]) -> None:
        """Several events in one socket write."""
        chunk = b"".join(encode_event(data, event) for event, data in events)
        if chunk:
            self.events_sent += chunk.count(b"\n\n")
            await self.writer.write(chunk)

    async def comment(self, text: str = "") -> None:
        """A comment line: ignored by clients, keeps proxies and idle timers from cutting a silent stream."""
        await self.writer.write(b": " + text.encode() + b"\n\n")
