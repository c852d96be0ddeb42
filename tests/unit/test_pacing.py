"""Overload pacing (pipeline/pacing.py): on trio's virtual clock with the loop's idle time scripted, and its idle
meter on a real loop."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from antigravityd.pipeline.pacing import RelayPacer


class ScriptedLoad:
    """Idle seconds of a loop that is busy ``share`` of the virtual wall time since the last read."""

    def __init__(self) -> None:
        self.share = 0.0
        self.idle = 0.0
        self.wall = 0.0

    def __call__(self) -> float:
        now = trio.current_time()
        self.idle += (1 - self.share) * (now - self.wall)
        self.wall = now
        return self.idle


def test_hysteresis() -> None:
    pacer = RelayPacer(enter=0.9, leave=0.6, smoothing=1.0)
    for busy, saturated in [(0.5, False), (0.89, False), (0.95, True), (0.7, True), (0.61, True), (0.59, False),
                            (0.85, False), (0.91, True)]:
        pacer.observe(busy)
        assert pacer.saturated is saturated, busy


def test_smoothing_ignores_a_single_busy_tick() -> None:
    pacer = RelayPacer(smoothing=0.2)
    pacer.observe(1.0)
    assert not pacer.saturated and pacer.busy == pytest.approx(0.2)


def test_relays_go_in_rounds_only_while_the_loop_is_saturated() -> None:
    """Unsaturated, a relay's pause returns at once; saturated, relays wait for the next tick and go together;
    when the load falls, they run freely again; when the ticker stops, nobody is left waiting."""
    load = ScriptedLoad()
    pacer = RelayPacer(tick=0.05, smoothing=1.0, idle_clock=load)
    resumed: list[float] = []

    async def relay() -> None:
        for _ in range(3):
            await pacer.pause()
            resumed.append(trio.current_time())

    ticker = trio.CancelScope()

    async def tick() -> None:
        with ticker:
            await pacer.run()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            await trio.sleep(0.01)
            await relay()  # idle loop: no waiting at all
            assert resumed == [0.01] * 3
            load.share = 1.0
            await trio.sleep(0.1)  # two ticks of a busy loop
            assert pacer.saturated
            resumed.clear()
            start = trio.current_time()
            async with trio.open_nursery() as relays:
                for _ in range(4):
                    relays.start_soon(relay)
            ticks = sorted({round(t - start, 6) for t in resumed})
            assert len(resumed) == 12 and ticks == [0.04, 0.09, 0.14]  # every relay on the same three ticks
            load.share = 0.1
            await trio.sleep(0.1)
            assert not pacer.saturated
            resumed.clear()
            await relay()
            assert len(set(resumed)) == 1
            load.share = 1.0
            await trio.sleep(0.1)
            assert pacer.saturated
            waiting = trio.Event()

            async def parked() -> None:
                waiting.set()
                await pacer.pause()

            with trio.fail_after(1):  # would only fire if the parked relay were left waiting
                async with trio.open_nursery() as last:
                    last.start_soon(parked)
                    await waiting.wait()
                    await trio.sleep(0.01)
                    ticker.cancel()  # the ticker stops (shutdown) between ticks: the parked relay is let go
            assert not pacer.saturated
            await relay()  # and nobody parks any more

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_loop_with_work_waiting_is_busy_even_off_the_cpu() -> None:
    """The real idle meter: a loop whose thread keeps losing the core (here: sleeping, as when another process or
    the hypervisor has it) while tasks are ready is saturated, though its CPU time is nearly nil; a loop that waits
    for I/O is not."""
    pacer = RelayPacer(tick=0.02, smoothing=1.0)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pacer.run)
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                time.sleep(0.002)  # off the CPU, with this task ready to run again at once
                await trio.lowlevel.checkpoint()
            assert pacer.saturated
            await trio.sleep(0.2)  # waiting for I/O (a timeout), nothing else to do
            assert not pacer.saturated
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        RelayPacer(enter=0.5, leave=0.6)
    with pytest.raises(ValueError):
        RelayPacer(tick=0)
