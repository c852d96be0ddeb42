"""Overload pacing: when the event loop is saturated, streams are relayed in rounds instead of event by event.

Why: trio runs, in each turn of its loop, every task that became ready meanwhile. When the daemon has more to relay
than one core can do, most streams have an upstream backlog at every turn, so every turn is long (20–90 ms
measured at 200 concurrent streams) — and a new request needs two turns before its first byte (its request
arrives; the upstream's answer arrives), so it waits behind everybody's backlog: ~150 ms where the work itself
takes ~1 ms. Events of the running streams arrive in bursts anyway at that point (one per long turn).

So, while the loop thread is busy more than ``enter`` of the time, a relay that has just written waits for the
next tick before reading its upstream again; every ``tick`` the waiting relays go together. A tick's relaying then
takes one burst, and new requests run between bursts instead of behind them. Reading every ``tick`` instead of
every event also makes each event cheaper (more events per read, per write, per wake-up), which is most of what
gets the loop out of saturation. Below ``leave`` the relays run freely again: at normal load events are forwarded
the moment they arrive and this costs one attribute check per write.

The tick trades CPU for latency. A/B at 200 streams against a 50 ms tick: 15 ms costs 1.12× the CPU per stream
for a TTFB p50 of 46 instead of 79 ms, 25 ms 1.08× for 52 ms, 35 ms 1.03× for 55 ms; in another run, no pacing at
all cost 1.21× for 73 instead of 45 ms. At 25 ms, what pacing adds to an event's delay is also too short to see.

Busy time is the loop thread's CPU time (``time.thread_time``) over wall time, smoothed over ~``1/smoothing``
ticks; the two thresholds keep it from flapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

__all__ = ["RelayPacer"]

log = logging.getLogger("antigravityd.pipeline")


class RelayPacer:
    def __init__(self, *, tick: float = 0.025, enter: float = 0.9, leave: float = 0.6, smoothing: float = 0.2,
                 cpu_clock: Callable[[], float] = time.thread_time) -> None:
        if not 0 < leave < enter <= 1 or tick <= 0 or not 0 < smoothing <= 1:
            raise ValueError("0 < leave < enter <= 1, tick > 0 and 0 < smoothing <= 1 are required")
        self.tick = tick
        self.enter = enter
        self.leave = leave
        self.smoothing = smoothing
        self.cpu_clock = cpu_clock  # CPU seconds of the loop's thread
        self.busy = 0.0  # smoothed share of wall time the loop thread spent on the CPU
        self.saturated = False
        self._lot = trio.lowlevel.ParkingLot()

    async def pause(self) -> None:
        """Called by a relay after each write: returns at once unless the loop is saturated."""
        if self.saturated:
            await self._lot.park()

    def observe(self, busy: float) -> None:
        """One tick's busy share (0–1): update the smoothed value and the saturated flag."""
        self.busy += self.smoothing * (busy - self.busy)
        if not self.saturated and self.busy > self.enter:
            self.saturated = True
            log.info("event loop saturated (%.0f %% busy): relaying in %.0f ms rounds", self.busy * 100,
                     self.tick * 1000)
        elif self.saturated and self.busy < self.leave:
            self.saturated = False
            log.info("event loop no longer saturated (%.0f %% busy): relaying each event", self.busy * 100)

    async def run(self) -> None:
        """The ticker (a supervised daemon task)."""
        try:
            wall, cpu = trio.current_time(), self.cpu_clock()
            while True:
                await trio.sleep(self.tick)
                now_wall, now_cpu = trio.current_time(), self.cpu_clock()
                self.observe(min(1.0, (now_cpu - cpu) / max(now_wall - wall, 1e-6)))
                wall, cpu = now_wall, now_cpu
                self._lot.unpark_all()
        finally:
            self.saturated = False
            self._lot.unpark_all()
