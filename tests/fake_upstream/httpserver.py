"""A deliberately small HTTP/1.1 server on trio + h11, private to the fake upstream.

It does not share code with antigravityd's own server on purpose: a fake that reused our server would hide the
very bugs it exists to catch. It supports what the fake needs and nothing else:

* keep-alive connections (httpx pools them), request bodies up to ``MAX_BODY`` bytes;
* complete responses (``Content-Length``) and streamed responses (chunked, one chunk per ``write``);
* **disconnect detection while a response is being produced**: a sibling task keeps reading the socket after the
  request has arrived; end-of-file before the response finished means the client went away, the handler is
  cancelled and ``on_disconnect`` is called. This is how tests observe "the upstream saw its connection close"
  (waiting for a failed write would take as long as the model "thinks", see stack-notes §3);
* ``abort()``: drop the connection in the middle of a response (a stream cut without a final chunk).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11
import trio

from .pacing import Pacer

MAX_BODY = 64 * 1024 * 1024
MAX_HEADERS = 64 * 1024
IDLE_TIMEOUT = 120.0  # seconds an idle keep-alive connection is kept


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    peer: str = ""
    # Free-form slot the application uses to tag the request (account, rpc method) for disconnect accounting.
    tags: dict[str, object] = field(default_factory=dict)


class Response:
    """Writes one response: either :meth:`send` once, or :meth:`start` + :meth:`write`* + :meth:`end`."""

    def __init__(self, conn: h11.Connection, stream: trio.abc.Stream) -> None:
        self._conn = conn
        self._stream = stream
        self.started = False
        self.finished = False
        self.aborted = False
        self.status = 0

    async def _send(self, event: h11.Event) -> None:
        data = self._conn.send(event)
        if data:
            await self._stream.send_all(data)

    async def send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        hdrs = [*headers, ("content-length", str(len(body)))]
        await self.start(status, hdrs)
        if body:
            await self._send(h11.Data(data=body))
        await self.end()

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        assert not self.started, "response already started"
        self.started = True
        self.status = status
        await self._send(h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b"")))

    async def write(self, data: bytes) -> None:
        """One chunk on the wire (with chunked encoding each call is its own chunk, so a split is visible)."""
        if data:
            await self._send(h11.Data(data=data))

    async def write_paced(self, pieces: list[bytes], interval: float, pacer: Pacer) -> None:
        """One chunk per piece, ``interval`` apart; the pacer's timer writes them (see pacing.py)."""
        framed = [self._conn.send(h11.Data(data=piece)) or b"" for piece in pieces if piece]
        sock = getattr(self._stream, "socket", None)
        sent, leftover = 0, b""
        if sock is not None:  # a plain TCP stream: the timer can write to its descriptor directly
            fd = sock.fileno()
            sent, leftover = await pacer.write_paced(lambda data: _write_nonblocking(fd, data), framed, interval)
        if leftover:
            await self._stream.send_all(leftover)
        for index in range(sent, len(framed)):  # the rest, paced by this task (no socket, or it was full)
            if index:
                await pacer.sleep(interval)
            await self._stream.send_all(framed[index])

    async def end(self) -> None:
        await self._send(h11.EndOfMessage())
        self.finished = True

    async def abort(self) -> None:
        """Close the TCP connection without finishing the message (the client sees an incomplete body)."""
        self.aborted = True
        await self._stream.aclose()


def _write_nonblocking(fd: int, data: bytes) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


Handler = Callable[[Request, Response], Awaitable[None]]
DisconnectHook = Callable[[Request], None]

_REASONS = {
    200: b"OK", 302: b"Found", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 408: b"Request Timeout", 413: b"Payload Too Large", 429: b"Too Many Requests",
    500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout",
}


async def serve_connection(stream: trio.SocketStream, handler: Handler, on_disconnect: DisconnectHook) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
    try:
        peer = stream.socket.getpeername()
        peer_text = f"{peer[0]}:{peer[1]}"
    except OSError:
        peer_text = ""
    try:
        while True:
            request = await _read_request(conn, stream, peer_text)
            if request is None:
                return
            response = Response(conn, stream)
            client_gone = False
            async with trio.open_nursery() as nursery:

                async def watch(cancel_scope: trio.CancelScope = nursery.cancel_scope) -> None:
                    nonlocal client_gone
                    if await _wait_for_eof(conn, stream):
                        client_gone = True
                        cancel_scope.cancel()

                nursery.start_soon(watch)
                try:
                    await handler(request, response)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    client_gone = not response.aborted
                finally:
                    nursery.cancel_scope.cancel()
            if client_gone and not response.finished and not response.aborted:
                on_disconnect(request)
            if response.aborted or client_gone or not response.finished:
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        return
    finally:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await stream.aclose()


async def _wait_for_eof(conn: h11.Connection, stream: trio.abc.ReceiveStream) -> bool:
    """Read while a response is produced. Returns True when the peer closed; bytes of a next request are buffered."""
    while True:
        try:
            data = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return True
        if not data:
            return True
        try:
            conn.receive_data(data)
        except RuntimeError:
            return True


async def _read_request(conn: h11.Connection, stream: trio.SocketStream, peer: str) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as e:
            await _reply_plain(conn, stream, e.error_status_hint, b"bad request\n")
            return None
        if event is h11.NEED_DATA:
            with trio.move_on_after(IDLE_TIMEOUT if head is None else 60.0):
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                continue
            return None
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                await _reply_plain(conn, stream, 413, b"request body too large\n")
                return None
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return _make_request(head, bytes(body), peer)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


def _make_request(head: h11.Request, body: bytes, peer: str) -> Request:
    target = head.target.decode("latin-1")
    path, _, query_string = target.partition("?")
    query = {k: v for k, v in urllib.parse.parse_qsl(query_string, keep_blank_values=True)}
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Request(
        method=head.method.decode("ascii"), target=target, path=urllib.parse.unquote(path), query=query,
        headers=headers, body=body, peer=peer,
    )


async def _reply_plain(conn: h11.Connection, stream: trio.abc.Stream, status: int, text: bytes) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    try:
        for event in (
            h11.Response(status_code=status, headers=[
                ("content-type", "text/plain"), ("content-length", str(len(text))), ("connection", "close")]),
            h11.Data(data=text),
            h11.EndOfMessage(),
        ):
            await stream.send_all(conn.send(event) or b"")
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        pass


async def serve(
    handler: Handler,
    on_disconnect: DisconnectHook,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` (0 = any free port) and serve until cancelled; reports the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        task_status.started(bound)
        await trio.serve_listeners(
            lambda s: serve_connection(s, handler, on_disconnect), listeners, handler_nursery=nursery,
        )
