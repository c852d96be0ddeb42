"""Request and response value types of our HTTP/1.1 server.

A handler is ``async def handler(request) -> Response | None``. It either returns a complete :class:`Response`,
or starts a streaming response with ``await request.stream(status, headers)`` and writes to the returned
:class:`BodyWriter` (then returns ``None``). Streaming from inside the handler keeps the upstream call, the
account lease and the client writer in one scope, so a failure or a disconnect on either side cleans up both
(trio's structured concurrency; see STYLE.md).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

__all__ = [
    "AbortStream",
    "BodyWriter",
    "Headers",
    "Request",
    "Response",
    "StreamAlreadyStarted",
    "json_response",
]

RawHeaders = list[tuple[bytes, bytes]]

_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class Headers:
    """Case-insensitive, read-only view of request headers (h11 already lower-cases names)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: RawHeaders) -> None:
        self._raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower().encode()
        for k, v in self._raw:
            if k == key:
                return v.decode("latin-1")
        return default

    def get_all(self, name: str) -> list[str]:
        key = name.lower().encode()
        return [v.decode("latin-1") for k, v in self._raw if k == key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> Iterable[tuple[str, str]]:
        return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw)

    @property
    def raw(self) -> RawHeaders:
        return self._raw


def valid_request_id(value: bytes | None) -> bool:
    return value is not None and _REQUEST_ID_OK.match(value) is not None


class AbortStream(Exception):
    """Raised by a handler to cut a streaming response that cannot be finished properly: the client sees a
    broken stream (no terminating chunk) instead of a fake end. Not logged as a crash."""


class StreamAlreadyStarted(RuntimeError):
    """A handler tried to start a second response on the same request."""


class BodyWriter:
    """Writes one streaming response body. Created by :meth:`Request.stream`; the server ends the message.

    ``write`` sees cancellation but yields to other tasks only when the socket buffer is full: a handler that
    writes in a loop must await something else between writes (relays wait for their upstream anyway).
    ``finish`` sends the last bytes together with the end of the body (one write instead of two); after it the
    body is complete and nothing more may be written.
    """

    __slots__ = ("_finish", "_send", "bytes_sent", "finished", "status")

    def __init__(self, send: Callable[[bytes], Awaitable[None]], finish: Callable[[bytes], Awaitable[None]],
                 status: int, bytes_sent: int = 0) -> None:
        self._send = send
        self._finish = finish
        self.status = status
        self.bytes_sent = bytes_sent
        self.finished = False

    async def write(self, data: bytes) -> None:
        if self.finished:
            raise RuntimeError("the response body is already complete")
        if data:
            self.bytes_sent += len(data)
            await self._send(data)

    async def finish(self, data: bytes = b"") -> None:
        if self.finished:
            raise RuntimeError("the response body is already complete")
        self.finished = True
        self.bytes_sent += len(data)
        await self._finish(data)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status=status, body=orjson.dumps(data), headers=headers or [])


StartStream = Callable[[int, list[tuple[str, str]], bytes], Awaitable[BodyWriter]]


class Request:
    """One parsed HTTP request with its whole body (bounded by the server's body limit).

    ``context`` is a per-request scratch dict for the application (e.g. the route name for metrics, the
    dialect, the account that served it). It never holds bodies.
    """

    __slots__ = (
        "_start_stream",
        "body",
        "client",
        "context",
        "headers",
        "http_version",
        "method",
        "path",
        "query_string",
        "request_id",
        "response_headers",
        "route",
        "route_params",
        "writer",
    )

    def __init__(
        self,
        *,
        method: str,
        target: bytes,
        headers: RawHeaders,
        body: bytes,
        http_version: str,
        request_id: str,
        client: tuple[str, int] | None,
    ) -> None:
        self.method = method
        path, _, query = target.partition(b"?")
        self.path = path.decode("utf-8", "replace")
        self.query_string = query.decode("utf-8", "replace")
        self.headers = Headers(headers)
        self.body = body
        self.http_version = http_version
        self.request_id = request_id
        self.client = client
        self.route = ""
        self.route_params: dict[str, str] = {}
        self.context: dict[str, Any] = {}
        self.response_headers: list[tuple[str, str]] = []  # added by middleware to every response
        self.writer: BodyWriter | None = None
        self._start_stream: StartStream | None = None

    def bind_stream_starter(self, start: StartStream) -> None:
        """Called once by the server: how this request's streaming response gets its status line out."""
        self._start_stream = start

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter. Query strings may carry API keys: never log them."""
        return dict(reversed(parse_qsl(self.query_string, keep_blank_values=True)))

    def json(self) -> Any:
        """The body parsed as JSON. Raises :class:`orjson.JSONDecodeError` (a ValueError) on bad input."""
        return orjson.loads(self.body)

    async def stream(self, status: int, headers: list[tuple[str, str]], content_type: str,
                     first: bytes = b"") -> BodyWriter:
        """Send the status line and headers now, with ``first`` bytes of the body if the handler has them already
        (one write instead of two); the rest follows through the returned writer."""
        if self.writer is not None or self._start_stream is None:
            raise StreamAlreadyStarted(self.path)
        self.writer = await self._start_stream(status, [("content-type", content_type), *headers], first)
        return self.writer

    @property
    def streaming(self) -> bool:
        return self.writer is not None
