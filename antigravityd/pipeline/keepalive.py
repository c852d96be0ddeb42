"""Keep-alive bytes for streaming responses whose upstream has gone quiet, sent by one task for all streams.

A client waiting through a long silence (a model thinking for minutes) gets the dialect's keep-alive (an Anthropic
``ping`` event, an SSE comment) every ``interval`` seconds of silence, so that proxies and SDK read timeouts do not
cut the stream.

Why one task rather than one per stream: starting that task, its first sleep, cancelling it and waiting for it to
exit cost ~3 % of a streamed answer's CPU (same-run A/B at 200 concurrent streams), and waiting for it held every
keep-alive client connection one scheduling round past the end of its body. Here a stream costs a heap entry. The
task sleeps until the earliest stream could have been silent for ``interval``; a stream that wrote since then is
put back with its new date. Each keep-alive is written by a short task of its own, so a client that stopped
reading blocks only its own.

A stream's writes go through its :class:`Outlet`, whose lock keeps the relay's writes and keep-alives apart. Once
the body is finished or the outlet closed, no keep-alive is written: one that lost that race finds out under the
lock and does nothing, so nothing ever lands after a body's end (where the next response on the connection would
begin).
"""

from __future__ import annotations

import heapq
import itertools

import trio

from antigravityd.http.message import BodyWriter

__all__ = ["KeepAlives", "Outlet"]


class Outlet:
    """One streaming response's writer, shared by its relay and the keep-alive task."""

    __slots__ = ("closed", "keepalive", "last", "lock", "writer")

    def __init__(self, writer: BodyWriter, keepalive: bytes) -> None:
        self.writer: BodyWriter = writer
        self.keepalive = keepalive
        self.lock = trio.Lock()
        self.last = trio.current_time()
        self.closed = False

    async def write(self, data: bytes, *, last: bool = False) -> None:
        if not data and not last:
            return
        try:
            self.lock.acquire_nowait()  # the usual case: nobody else is writing (no scheduling round trip)
        except trio.WouldBlock:
            await self.lock.acquire()
        try:
            if last:
                await self.writer.finish(data)
            else:
                await self.writer.write(data)
            self.last = trio.current_time()
        finally:
            self.lock.release()

    async def finish(self, data: bytes) -> None:
        """The last bytes, sent with the end of the body."""
        await self.write(data, last=True)

    def close(self) -> None:
        """The relay is done with this stream (finished, failed or cancelled): no more keep-alives. The writer is
        let go at once — the keep-alive task may hold this outlet for up to ``interval`` more, and the writer
        keeps the whole client connection alive."""
        self.closed = True
        self.writer = None  # type: ignore[assignment]

    async def ping(self) -> None:
        if self.lock.locked():
            return  # a write in progress: not silence
        async with self.lock:
            if self.closed or self.writer.finished:
                return
            try:
                await self.writer.write(self.keepalive)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed = True  # the client is gone; the relay finds out on its own next write
                return
            self.last = trio.current_time()


class KeepAlives:
    """Registers streaming responses (:meth:`open`) and keeps the silent ones alive (:meth:`run`)."""

    def __init__(self, interval: float, *, granularity: float = 0.25) -> None:
        self.interval = interval
        # Wake-ups are at least this far apart, each handling every entry that has come due: at hundreds of new
        # streams a second, one wake-up per stream would cost more than the streams' keep-alives are worth. A
        # keep-alive is then late by up to this much.
        self.granularity = granularity
        self._due: list[tuple[float, int, Outlet]] = []
        self._order = itertools.count()  # ties in the heap never compare outlets
        self._added = trio.Event()

    def open(self, writer: BodyWriter, keepalive: bytes) -> Outlet:
        outlet = Outlet(writer, keepalive)
        if keepalive and self.interval > 0:
            # Every entry is due ``interval`` after it was (re)queued, so a new one is never due before those
            # already waiting: the sleeping task only needs waking when the heap was empty.
            heapq.heappush(self._due, (outlet.last + self.interval, next(self._order), outlet))
            if len(self._due) == 1:
                self._added.set()
        return outlet

    async def run(self) -> None:
        async with trio.open_nursery() as pings:
            while True:
                if not self._due:
                    await self._added.wait()
                    self._added = trio.Event()
                    continue
                due, _, outlet = self._due[0]
                now = trio.current_time()
                if due > now:
                    await trio.sleep_until(max(due, now + self.granularity))
                    continue
                heapq.heappop(self._due)
                if outlet.closed or outlet.writer.finished:
                    continue
                quiet_until = outlet.last + self.interval
                if quiet_until <= now:
                    pings.start_soon(outlet.ping)
                    quiet_until = now + self.interval
                heapq.heappush(self._due, (quiet_until, next(self._order), outlet))
