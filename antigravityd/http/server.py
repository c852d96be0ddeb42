"""HTTP/1.1 server on trio + h11, with limits and the drain policy of DESIGN.md §3.

One task per connection runs h11's state machine: keep-alive, pipelining (h11 buffers the next request until
``start_next_cycle``), chunked request bodies, ``Expect: 100-continue``, HEAD. While a handler runs, its socket is
watched for the client hanging up (``hangups.py``: one epoll-backed task for the whole server): an EOF or reset
cancels the handler's scope at once (upstream streams close within milliseconds) instead of when a write finally
fails (stack-notes §3, pitfall 6).

Limits, each with a clear answer: request line + headers (431), body (413), headers too slow (408), body
stalled (408), idle keep-alive timeout (silent close), connections at once (further ones wait in the kernel
backlog), writes to a client that stopped reading (connection dropped). Malformed HTTP gets 400 and a close.

Drain (``drain()``, on SIGTERM): stop accepting (close only our copy of the listening socket), every response
started from now on carries ``Connection: close``, idle keep-alive connections may send one more request within
a short grace window, clean closes linger (FIN, read to EOF ≤ 0.5 s) so the client never sees a reset, and a
hard deadline cancels whatever is still streaming. This policy measured 0 failed requests across restarts; a
naive drain lost 10–53 (stack-notes §2).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import h11
import trio

from antigravityd.http.connection import Completed, Connection
from antigravityd.http.hangups import HangupMonitor
from antigravityd.http.message import Request, Response

__all__ = ["Completed", "HttpServer", "ServerLimits"]

log = logging.getLogger("antigravityd.http")

App = Callable[[Request], Awaitable[Response | None]]

ACCEPT_BACKOFF_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
# New connections taken per turn of the event loop (see _accept_loop). A/B at 200 clients connecting at once,
# against taking the whole backlog: 8 per turn, TTFB p50 59 → 37 ms, p99 156 → 296 ms; 16 per turn, 42 and 237 ms;
# both 1.02× the CPU per stream.
ACCEPTS_PER_TURN = 16


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_header_bytes: int = 65536
    max_body_bytes: int = 100 * 1024 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 75.0
    send_timeout: float = 60.0
    max_connections: int = 4096
    drain_idle_grace: float = 1.0


def _default_error_body(path: str | None, status: int, message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": status}}


class _DateCache:
    """RFC 9110 Date header, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


class HttpServer:
    def __init__(
        self,
        app: App,
        limits: ServerLimits,
        *,
        on_complete: Callable[[Completed], None] | None = None,
        error_body: Callable[[str | None, int, str], dict] | None = None,
        epoll_hangups: bool = HangupMonitor.available,
    ) -> None:
        self.app = app
        self.error_body = error_body or _default_error_body
        # Whether a request's handler runs beside a disconnect watcher (an extra task): the app may answer per
        # request (cheap built-in routes need none); by default every handler gets one.
        self.watch_client: Callable[[Request], bool] = getattr(app, "watch_client", lambda request: True)
        self.limits = limits
        self.on_complete = on_complete
        self.draining = False
        self.connections = 0
        self.in_flight = 0
        self._idle_scopes: set[trio.CancelScope] = set()
        self._accept_scope: trio.CancelScope | None = None
        self._connections_scope: trio.CancelScope | None = None
        self._slots = trio.Semaphore(limits.max_connections)
        self._dates = _DateCache()
        self.epoll_hangups = epoll_hangups  # False: a watcher task per request instead (the non-Linux way)
        self.hangups: HangupMonitor | None = None

    async def serve(self, listeners: list[trio.SocketListener], *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until drained: returns when accepting stopped and every connection has closed."""
        try:
            async with trio.open_nursery() as monitors:
                if self.epoll_hangups:
                    self.hangups = HangupMonitor()
                    monitors.start_soon(self.hangups.run)
                await self._serve(listeners, task_status)
                monitors.cancel_scope.cancel()
        finally:
            self.hangups = None  # its epoll instance is closed

    async def _serve(self, listeners: list[trio.SocketListener], task_status) -> None:
        async with trio.open_nursery() as connections:
            self._connections_scope = connections.cancel_scope
            async with trio.open_nursery() as acceptors:
                self._accept_scope = acceptors.cancel_scope
                for listener in listeners:
                    acceptors.start_soon(self._accept_loop, listener, connections)
                task_status.started()

    def drain(self, deadline: float) -> None:
        """Begin the graceful stop; ``deadline`` is an absolute ``trio.current_time()`` for cutting streams."""
        self.draining = True
        if self._accept_scope is not None:
            self._accept_scope.cancel()
        grace = trio.current_time() + self.limits.drain_idle_grace
        for scope in self._idle_scopes:
            scope.deadline = min(scope.deadline, grace)
        if self._connections_scope is not None:
            self._connections_scope.deadline = min(self._connections_scope.deadline, deadline)

    async def _accept_loop(self, listener: trio.SocketListener, connections: trio.Nursery) -> None:
        """Accept connections until cancelled (drain), each in its own task.

        Each wake-up accepts up to ``ACCEPTS_PER_TURN`` connections. ``SocketListener.accept`` takes one per
        scheduling round (plus one for the slot semaphore), and a saturated loop's rounds are long: in one
        benchmark run, 200 clients connecting at once to a daemon relaying ~150 streams waited up to 3 s for their
        first byte while the daemon's own log timed their requests at under 70 ms. Taking the whole backlog at once
        goes wrong the other way: the next turn then runs every new request up to its upstream call (a few hundred
        µs each) before any of them reads its answer, so a herd's first bytes all wait for the whole herd, and its
        streams stay in step, ending and coming back together. A few per turn serves a herd in arrival order. A
        duplicate of the listening descriptor is accepted from directly; it is closed with the listener, so drain
        still stops accepting.
        """
        async with listener:
            with socket.socket(fileno=os.dup(listener.socket.fileno())) as raw:
                raw.setblocking(False)
                while True:
                    await trio.lowlevel.wait_readable(raw)
                    await self._accept_backlog(raw, connections)

    async def _accept_backlog(self, raw: socket.socket, connections: trio.Nursery) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                self._slots.acquire_nowait()
            except trio.WouldBlock:
                await self._slots.acquire()  # at max_connections: wait for one to close
            try:
                sock, _ = raw.accept()
            except BlockingIOError:
                self._slots.release()
                return
            except OSError as e:
                self._slots.release()
                if e.errno in (errno.ECONNABORTED, errno.EPROTO):  # gone before we took it
                    continue
                if e.errno not in ACCEPT_BACKOFF_ERRNOS:
                    raise
                log.error("accept failed (%s); backing off", errno.errorcode.get(e.errno, e.errno))
                await trio.sleep(0.1)
                return
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
            connections.start_soon(Connection(self, stream).run)

    def response_head(self, status: int, headers: list[tuple[str, str]], request_id: str) -> h11.Response:
        raw = [(b"date", self._dates.get()), (b"x-request-id", request_id.encode())]
        raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)
        if self.draining:
            raw.append((b"connection", b"close"))
        return h11.Response(status_code=status, headers=raw, reason=_reason(status))


@functools.cache
def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
