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


def _run_paced(chunks: list[bytes], write_results: dict[int, object], interval: float = 0.005,
               cancel_after: float | None = None) -> tuple[list[tuple[float, bytes]], object]:
    """Drive write_paced with a recording ``write``; ``write_results[i]`` overrides what the i-th write does
    (an int: bytes taken; an exception: raised)."""

    async def main() -> tuple[list[tuple[float, bytes]], object]:
        pacer = Pacer()
        written: list[tuple[float, bytes]] = []
        start = trio.current_time()

        def write(data: bytes) -> int:
            outcome = write_results.get(len(written), len(data))
            written.append((trio.current_time() - start, data))
            if isinstance(outcome, Exception):
                raise outcome
            return outcome  # type: ignore[return-value]

        result: object = None
        with trio.move_on_after(cancel_after if cancel_after is not None else 3600):
            try:
                result = await pacer.write_paced(write, chunks, interval)
            except trio.BrokenResourceError as e:
                result = e
        if cancel_after is not None:
            await trio.sleep(1)  # the timer must not write for a cancelled stream afterwards
        return written, result

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_paced_writes_follow_the_schedule_without_drift():
    chunks = [b"event %d" % i for i in range(40)]
    written, result = _run_paced(chunks, {})
    assert result == (40, b"")
    assert [data for _, data in written] == chunks
    for i, (at, _) in enumerate(written):
        assert i * 0.005 <= at <= i * 0.005 + TICK + 1e-9  # each on its own slot, not delay after the previous


def test_a_short_write_hands_the_rest_back():
    written, result = _run_paced([b"aaaa", b"bbbb", b"cccc", b"dddd"], {1: 1})
    assert result == (2, b"bbb")  # chunk 1 partly out; the caller sends "bbb", then chunks 2 and 3
    assert [data for _, data in written] == [b"aaaa", b"bbbb"]


def test_a_short_first_write_returns_at_once():
    written, result = _run_paced([b"aaaa", b"bbbb"], {0: 0})
    assert result == (1, b"aaaa")
    assert len(written) == 1


def test_a_broken_socket_raises_in_the_stream_task():
    written, result = _run_paced([b"a", b"b", b"c"], {1: ConnectionResetError("reset")})
    assert isinstance(result, trio.BrokenResourceError)
    assert len(written) == 2


def test_a_cancelled_stream_gets_no_more_writes():
    written, result = _run_paced([b"x%d" % i for i in range(100)], {}, cancel_after=0.0225)
    assert result is None
    assert [data for _, data in written] == [b"x0", b"x1", b"x2", b"x3", b"x4"]  # at 0, 5, 10, 15, 20 ms


def test_sleeps_and_writes_share_ticks():
    async def main() -> list[str]:
        pacer = Pacer()
        log: list[str] = []

        async def sleeper() -> None:
            await pacer.sleep(0.010)
            log.append(f"slept {trio.current_time():.3f}")

        def write(data: bytes) -> int:
            log.append(f"wrote {data.decode()} {trio.current_time():.3f}")
            return len(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            nursery.start_soon(pacer.write_paced, write, [b"a", b"b", b"c"], 0.010)
        return log

    log = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert sorted(log) == sorted(["wrote a 0.000", "wrote b 0.010", "wrote c 0.020", "slept 0.010"])
