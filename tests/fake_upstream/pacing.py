"""Paced sleeps and paced writes that share their wake-ups.

Trio ends a ``trio.sleep`` by delivering Cancelled to the sleeper when its scope's deadline passes, and that
exception machinery costs tens of microseconds. A fake pacing 200 streams' events 5 ms apart pays it 40,000 times a
second and becomes the bottleneck of the benchmarks it serves (the gateway under test then sees events trickle
in slower than asked). Here a sleeper waits on the Event of the millisecond tick it is due in, and one timer task
wakes every sleeper of a tick at once: one deadline per tick, however many streams.

Waking the stream's task per event is still ~60 µs of the fake's CPU per event (wake-up, encoding, h11, trio's
send). :meth:`Pacer.write_paced` goes further for a stream whose bytes are known up front: the timer task itself
writes each due chunk to the socket (a plain non-blocking write), and the stream's task sleeps until the last one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

import trio

__all__ = ["Pacer"]

TICK = 0.001


class _Schedule:
    __slots__ = ("broken", "cancelled", "chunks", "done", "index", "interval", "leftover", "start", "write")

    def __init__(self, write: Callable[[bytes], int], chunks: Sequence[bytes], start: float, interval: float) -> None:
        self.write = write
        self.chunks = chunks
        self.start = start
        self.interval = interval
        self.index = 1  # chunks[0] left at once
        self.leftover = b""
        self.broken: OSError | None = None
        self.cancelled = False
        self.done = trio.Event()

    def due_tick(self) -> int:
        return math.ceil((self.start + self.index * self.interval) / TICK)

    def step(self) -> bool:
        """Write the due chunk; True when the schedule goes on."""
        chunk = self.chunks[self.index]
        try:
            sent = self.write(chunk)
        except OSError as e:  # reset or closed by the peer
            self.broken = e
            self.done.set()
            return False
        self.index += 1
        if sent < len(chunk):  # the socket buffer is full: the stream's own task finishes this one
            self.leftover = chunk[sent:]
        if self.leftover or self.index == len(self.chunks):
            self.done.set()
            return False
        return True


class Pacer:
    def __init__(self) -> None:
        self._due: dict[int, trio.Event] = {}
        self._writes: dict[int, list[_Schedule]] = {}
        self._ticks: list[int] = []  # heap of the keys of _due and _writes
        self._wake = trio.Event()  # an earlier tick than the timer waits for was added
        self._timer_running = False

    async def sleep(self, seconds: float) -> None:
        """Like ``trio.sleep``, rounded up to the next millisecond tick."""
        if seconds <= 0:
            await trio.lowlevel.checkpoint()
            return
        tick = math.ceil((trio.current_time() + seconds) / TICK)
        event = self._due.get(tick)
        if event is None:
            event = self._due[tick] = trio.Event()
            self._add_tick(tick)
        await event.wait()

    async def write_paced(self, write: Callable[[bytes], int], chunks: Sequence[bytes],
                          interval: float) -> tuple[int, bytes]:
        """Write ``chunks[i]`` at ``i * interval`` from now, on the ticks, without waking this task per chunk.

        ``write`` must not block: it writes what fits and returns how many bytes that was (OSError if the peer is
        gone, re-raised here as BrokenResourceError). Returns ``(n, leftover)``: chunks before ``n`` are out
        except ``leftover``, the unwritten tail of ``chunks[n - 1]`` after a short write. The caller then sends
        the leftover and the rest itself, paced by :meth:`sleep`.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if not chunks:
            return 0, b""
        schedule = _Schedule(write, chunks, trio.current_time(), interval)
        schedule.index = 0
        if not schedule.step():
            if schedule.broken is not None:
                raise trio.BrokenResourceError(str(schedule.broken)) from schedule.broken
            await trio.lowlevel.cancel_shielded_checkpoint()
            return schedule.index, schedule.leftover
        self._add_write(schedule)
        try:
            await schedule.done.wait()
        finally:
            schedule.cancelled = True  # the timer skips it: this task's socket may close right after
        if schedule.broken is not None:
            raise trio.BrokenResourceError(str(schedule.broken)) from schedule.broken
        return schedule.index, schedule.leftover

    def _add_write(self, schedule: _Schedule) -> None:
        tick = schedule.due_tick()
        writes = self._writes.get(tick)
        if writes is None:
            self._writes[tick] = [schedule]
            self._add_tick(tick)
        else:
            writes.append(schedule)

    def _add_tick(self, tick: int) -> None:
        if tick in self._due and tick in self._writes:
            return  # the other kind already put it on the heap
        heapq.heappush(self._ticks, tick)
        if self._ticks[0] == tick:
            self._wake.set()
        if not self._timer_running:
            self._timer_running = True
            trio.lowlevel.spawn_system_task(self._timer, name="fake-pacer")

    async def _timer(self) -> None:
        try:
            while self._ticks:
                self._wake = trio.Event()
                with trio.move_on_at(self._ticks[0] * TICK):
                    await self._wake.wait()
                now = trio.current_time()
                while self._ticks and self._ticks[0] * TICK <= now:
                    tick = heapq.heappop(self._ticks)
                    event = self._due.pop(tick, None)
                    if event is not None:
                        event.set()
                    for schedule in self._writes.pop(tick, ()):
                        if not schedule.cancelled and schedule.step():
                            self._add_write(schedule)
        finally:
            self._timer_running = False
