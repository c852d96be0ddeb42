"""Overload pacing: when the event loop is saturated, streams are relayed in rounds instead of event by event.

Why: trio runs, in each turn of its loop, every task that became ready meanwhile. When the daemon has more to relay
than one core can do, most streams have an upstream backlog at every turn, so every turn is long (20–90 ms
measured at 200 concurrent streams) — and a new request needs two turns before its first byte (its request
arrives; the upstream's answer arrives), so it waits behind everybody's backlog: ~150 ms where the work itself
takes ~1 ms. Events of the running streams arrive in bursts anyway at that point (one per long turn).

So, while the loop is busy more than ``enter`` of the time, a relay that has just written waits for the
next tick before reading its upstream again; every ``tick`` the waiting relays go together. A tick's relaying then
takes one burst, and new requests run between bursts instead of behind them. Reading every ``tick`` instead of
every event also makes each event cheaper (more events per read, per write, per wake-up), which is most of what
gets the loop out of saturation. Below ``leave`` the relays run freely again: at normal load events are forwarded
the moment they arrive and this costs one attribute check per write.

The tick trades CPU for latency. A/B at 200 streams against a 50 ms tick: 15 ms costs 1.12× the CPU per stream
for a TTFB p50 of 46 instead of 79 ms, 25 ms 1.08× for 52 ms, 35 ms 1.03× for 55 ms; in another run, no pacing at
all cost 1.21× for 73 instead of 45 ms. At 25 ms, what pacing adds to an event's delay is also too short to see.

Busy is the share of wall time the loop did not spend waiting for I/O (:class:`IdleMeter`, an instrument on trio's
I/O-wait hooks), smoothed over ~``1/smoothing`` ticks; the two thresholds keep it from flapping. Not the loop
thread's CPU time: on a shared core (another process, a VPS's steal time) a loop whose tasks queue up gets less
than 90 % of the CPU, and would never count as saturated. With a process taking 20 % of the daemon's core, the
CPU-time signal (~84 %) never switched pacing on; A/B at 200 streams: TTFB p50 96 → 51 ms, 0.96× the CPU per
stream; on a core of its own, the same 38 ms either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

__all__ = ["IdleMeter", "RelayPacer"]

log = logging.getLogger("antigravityd.pipeline")


class IdleMeter(trio.abc.Instrument):
    """Seconds the trio loop has spent waiting for I/O. trio calls these hooks once per turn of its loop (not per
    task step): two clock reads a turn."""

    def __init__(self) -> None:
        self.idle = 0.0
        self._since = 0.0

    def before_io_wait(self, timeout: float) -> None:
        self._since = trio.current_time()

    def after_io_wait(self, timeout: float) -> None:
        self.idle += trio.current_time() - self._since

    def seconds(self) -> float:
        return self.idle


class RelayPacer:
    def __init__(self, *, tick: float = 0.025, enter: float = 0.9, leave: float = 0.6, smoothing: float = 0.2,
                 idle_clock: Callable[[], float] | None = None) -> None:
        if not 0 < leave < enter <= 1 or tick <= 0 or not 0 < smoothing <= 1:
            raise ValueError("0 < leave < enter <= 1, tick > 0 and 0 < smoothing <= 1 are required")
        self.tick = tick
        self.enter = enter
        self.leave = leave
        self.smoothing = smoothing
        self.idle_clock = idle_clock  # seconds the loop waited for I/O; None: run() measures them (IdleMeter)
        self.busy = 0.0  # smoothed share of wall time the loop was not waiting for I/O
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
        meter = None
        idle_clock = self.idle_clock
        if idle_clock is None:
            meter = IdleMeter()
            trio.lowlevel.add_instrument(meter)
            idle_clock = meter.seconds
        try:
            wall, idle = trio.current_time(), idle_clock()
            while True:
                await trio.sleep(self.tick)
                now_wall, now_idle = trio.current_time(), idle_clock()
                self.observe(min(1.0, max(0.0, 1.0 - (now_idle - idle) / max(now_wall - wall, 1e-6))))
                wall, idle = now_wall, now_idle
                self._lot.unpark_all()
        finally:
            if meter is not None:
                trio.lowlevel.remove_instrument(meter)
            self.saturated = False
            self._lot.unpark_all()
