"""The fake's shared-tick sleeps: never early, at most a tick late, in order, and many sleepers per wake-up."""

from __future__ import annotations

import trio
import trio.testing

from .pacing import TICK, Pacer


def test_sleepers_wake_on_time_and_in_order():
    async def main() -> list[tuple[float, float]]:
        pacer = Pacer()
        woke: list[tuple[float, float]] = []
        start = trio.current_time()

        async def sleeper(delay: float) -> None:
            await pacer.sleep(delay)
            woke.append((delay, trio.current_time() - start))

        async with trio.open_nursery() as nursery:
            for delay in [0.005] * 50 + [0.010, 0.002, 0.0, 0.0334]:
                nursery.start_soon(sleeper, delay)
        return woke

    woke = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(woke) == 54
    for delay, at in woke:
        assert delay <= at <= delay + TICK + 1e-9
    assert [d for d, _ in woke] == sorted(d for d, _ in woke)  # a later deadline never wakes first
