"""Paced sleeps that share their wake-ups.

Trio ends a ``trio.sleep`` by delivering Cancelled to the sleeper when its scope's deadline passes, and that
exception machinery costs tens of microseconds. A fake pacing 200 streams' events 5 ms apart pays it 40,000 times a
second and becomes the bottleneck of the benchmarks it serves (the gateway under test then sees events trickle
in slower than asked). Here a sleeper waits on the Event of the millisecond tick it is due in, and one timer task
wakes every sleeper of a tick at once: one deadline per tick, however many streams.
"""

from __future__ import annotations

import heapq
import math

import trio

__all__ = ["Pacer"]

TICK = 0.001


class Pacer:
    def __init__(self) -> None:
        self._due: dict[int, trio.Event] = {}
        self._ticks: list[int] = []  # heap of the keys of _due
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
            heapq.heappush(self._ticks, tick)
            if self._ticks[0] == tick:
                self._wake.set()
        if not self._timer_running:
            self._timer_running = True
            trio.lowlevel.spawn_system_task(self._timer, name="fake-pacer")
        await event.wait()

    async def _timer(self) -> None:
        try:
            while self._ticks:
                self._wake = trio.Event()
                with trio.move_on_at(self._ticks[0] * TICK):
                    await self._wake.wait()
                now = trio.current_time()
                while self._ticks and self._ticks[0] * TICK <= now:
                    self._due.pop(heapq.heappop(self._ticks)).set()
        finally:
            self._timer_running = False
