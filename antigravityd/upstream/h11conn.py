"""One HTTP/1.1 client connection of the upstream transport (h11transport.py): h11's state, the socket I/O and
the watchdog that enforces read and write deadlines.

Plain-TCP connections are read and written on the socket itself: trio's stream layers yield once more per call than
a relay needs, and a write that fits (a request is a few KB) then costs no scheduling round. TLS (Google) goes
through trio's SSLStream. Read and write deadlines are kept by one watchdog task per transport rather than a cancel
scope per socket call: entering and leaving a trio cancel scope costs ~19 µs here, paid once per relayed event
otherwise.
"""

from __future__ import annotations

import math
import os

import h11
import httpx
import trio

__all__ = ["RECEIVE_SIZE", "Connection", "Origin", "Watchdog"]

RECEIVE_SIZE = 65536
_SOCKET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

Origin = tuple[bytes, bytes, int]


class Watchdog:
    """Read and write deadlines of a transport's connections, enforced by one system task.

    Arming is two attribute writes. A connection whose deadline passes is marked ``timed_out`` and its socket
    closed, which wakes the task blocked on it (trio raises ClosedResourceError there). The task checks every
    ``tick``: at most 1 s, and a quarter of the shortest timeout seen, so a deadline is late by a tick at most.
    It runs only while some connection is armed.
    """

    def __init__(self) -> None:
        self.armed: set[Connection] = set()
        self.tick = 1.0
        self._running = False
        self._wake = trio.Event()

    def arm(self, conn: Connection, timeout: float) -> None:
        if timeout == math.inf:
            return
        conn.deadline = trio.current_time() + timeout
        self.armed.add(conn)
        if timeout < self.tick * 4:
            self.tick = max(0.005, timeout / 4)
            self._wake.set()
        if not self._running:
            self._running = True
            trio.lowlevel.spawn_system_task(self._run, name="upstream-timeouts")

    def forget(self, conn: Connection) -> None:
        self.armed.discard(conn)

    async def _run(self) -> None:
        try:
            while self.armed:
                with trio.move_on_after(self.tick):
                    await self._wake.wait()
                self._wake = trio.Event()
                now = trio.current_time()
                for conn in [c for c in self.armed if c.deadline <= now]:
                    self.armed.discard(conn)
                    conn.expire()
        finally:
            self._running = False


class Connection:
    __slots__ = ("conn", "deadline", "expires", "origin", "plain", "stream", "timed_out", "watchdog")

    def __init__(self, origin: Origin, stream: trio.abc.Stream, watchdog: Watchdog) -> None:
        self.origin = origin
        self.stream = stream
        # Plain TCP is read and written on the socket itself (see _send_plain and _receive): trio's stream layers
        # yield once more per call than a relay needs. TLS goes through trio's SSLStream.
        self.plain: trio.socket.SocketType | None = stream.socket if isinstance(stream, trio.SocketStream) else None
        self.watchdog = watchdog
        self.conn = h11.Connection(h11.CLIENT)
        self.expires = math.inf  # idle in the pool until then
        self.deadline = math.inf  # the pending read or write must finish by then
        self.timed_out = False

    def _socket(self) -> trio.socket.SocketType | None:
        sock = getattr(self.stream, "socket", None)
        if sock is None:
            sock = getattr(getattr(self.stream, "transport_stream", None), "socket", None)
        return sock

    def expire(self) -> None:
        """Called by the watchdog: the blocked read or write fails as a timeout."""
        self.timed_out = True
        sock = self._socket()
        if sock is not None:
            sock.close()

    def reusable(self) -> bool:
        """After a response h11 read to its end. Bytes past that end are the server misbehaving; h11 would keep
        them as the start of the next response and fail that request."""
        return (self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE
                and not self.conn.trailing_data[0])

    def stale(self, now: float) -> bool:
        """Expired, or the server has closed it (a readable idle socket means EOF or unexpected bytes)."""
        if now >= self.expires:
            return True
        sock = self._socket()
        return sock is not None and sock.is_readable()

    async def send(self, event: h11.Event, timeout: float, *more: h11.Event | None) -> None:
        data = self.conn.send(event) or b""
        for extra in more:
            if extra is not None:
                data += self.conn.send(extra) or b""
        if not data:
            return
        try:
            if self.plain is not None:
                await self._send_plain(self.plain, data, timeout)
            else:
                self.watchdog.arm(self, timeout)
                await self.stream.send_all(data)
        except _SOCKET_ERRORS as e:
            raise self._failure(e, httpx.WriteTimeout("timed out sending the request"), httpx.WriteError) from None
        finally:
            self.deadline = math.inf

    async def _send_plain(self, sock: trio.socket.SocketType, data: bytes, timeout: float) -> None:
        """Write without a scheduling point when the socket takes it all (the usual case: a request is a few KB),
        so a request's start costs one round through the scheduler fewer — the next step, waiting for the
        response, yields anyway. A socket closed by the watchdog has fileno -1: the write fails, never lands on a
        reused descriptor."""
        await trio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(data)
        while True:
            try:
                view = view[os.write(sock.fileno(), view):]
            except BlockingIOError:
                pass
            if not view:
                return
            self.watchdog.arm(self, timeout)
            await trio.lowlevel.wait_writable(sock)

    def buffered_event(self) -> h11.Event | type[h11.NEED_DATA]:
        """The next event from bytes already received (NEED_DATA when there are none): no I/O."""
        try:
            return self.conn.next_event()
        except h11.RemoteProtocolError as e:
            raise httpx.RemoteProtocolError(str(e)) from None

    async def next_event(self, timeout: float) -> h11.Event:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as e:
                raise httpx.RemoteProtocolError(str(e)) from None
            if event is not h11.NEED_DATA:
                return event
            data = await self.receive(timeout)
            if not data and self.conn.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("server disconnected without sending a response")
            self.conn.receive_data(data)

    async def receive(self, timeout: float) -> bytes:
        """The next bytes from the server (b"" at its end of stream), within ``timeout``."""
        self.watchdog.arm(self, timeout)
        try:
            return await self._receive()
        except _SOCKET_ERRORS as e:
            raise self._failure(e, httpx.ReadTimeout("timed out waiting for data"), httpx.ReadError) from None
        finally:
            self.deadline = math.inf

    def _failure(self, error: Exception, timeout: httpx.TimeoutException,
                 failed: type[httpx.NetworkError]) -> httpx.TransportError:
        """httpx's exception for a failed socket call: the timeout when the watchdog closed the socket."""
        return timeout if self.timed_out else failed(str(error) or type(error).__name__)

    async def _receive(self) -> bytes:
        sock = self.plain
        if sock is None:
            return await self.stream.receive_some(RECEIVE_SIZE)
        # Wait first, then read: we only get here once h11 has used up what we had, so the socket is usually empty
        # and trying the read first would fail (a syscall and an exception) — and when it succeeded, trio would
        # still yield after it. This way every read is exactly one round through the scheduler.
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                return os.read(sock.fileno(), RECEIVE_SIZE)
            except BlockingIOError:  # a spurious wake-up
                continue

    async def aclose(self) -> None:
        self.watchdog.forget(self)
        await trio.aclose_forcefully(self.stream)
