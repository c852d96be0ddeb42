"""The shared keep-alive task (pipeline/keepalive.py) on trio's virtual clock, with real BodyWriters whose bytes
are recorded with the virtual time they were sent at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing

from antigravityd.http.message import BodyWriter
from antigravityd.pipeline.keepalive import KeepAlives

INTERVAL = 15.0
PING = b": ping\n\n"


def recording_writer(log: list[tuple[float, bytes]], *, gate: trio.Event | None = None) -> BodyWriter:
    async def send(data: bytes) -> None:
        if gate is not None:
            await gate.wait()  # a client that stopped reading
        log.append((trio.current_time(), data))

    return BodyWriter(send, send, 200)


def run(main: Callable[[KeepAlives], Awaitable[None]], granularity: float = 0.0) -> None:
    async def harness() -> None:
        keepalives = KeepAlives(INTERVAL, granularity=granularity)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(keepalives.run)
            await main(keepalives)
            nursery.cancel_scope.cancel()

    trio.run(harness, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_silent_stream_gets_a_keepalive_every_interval_of_silence() -> None:
    sent: list[tuple[float, bytes]] = []

    async def main(keepalives: KeepAlives) -> None:
        out = keepalives.open(recording_writer(sent), PING)
        await trio.sleep(50)
        assert [t for t, _ in sent] == [15, 30, 45]
        await out.write(b"data")  # at 50: the next silence ends at 65
        await trio.sleep(20)
        await out.finish(b"end")
        out.close()
        await trio.sleep(100)

    run(main)
    assert sent == [(15, PING), (30, PING), (45, PING), (50, b"data"), (65, PING), (70, b"end")]


def test_a_stream_that_keeps_writing_gets_none() -> None:
    sent: list[tuple[float, bytes]] = []

    async def main(keepalives: KeepAlives) -> None:
        out = keepalives.open(recording_writer(sent), PING)
        for _ in range(10):
            await trio.sleep(INTERVAL - 1)
            await out.write(b"event")
        out.close()

    run(main)
    assert {data for _, data in sent} == {b"event"}


def test_nothing_after_the_end_of_a_body_or_for_a_dialect_without_keepalives() -> None:
    sent: list[tuple[float, bytes]] = []

    async def main(keepalives: KeepAlives) -> None:
        finished = keepalives.open(recording_writer(sent), PING)
        await finished.finish(b"whole answer")  # the relay has not called close() yet
        keepalives.open(recording_writer(sent), b"")
        await trio.sleep(INTERVAL * 4)

    run(main)
    assert sent == [(0, b"whole answer")]


def test_a_client_that_stops_reading_blocks_only_its_own_keepalive() -> None:
    stuck: list[tuple[float, bytes]] = []
    fine: list[tuple[float, bytes]] = []
    gate = trio.Event()

    async def main(keepalives: KeepAlives) -> None:
        keepalives.open(recording_writer(stuck, gate=gate), PING)
        await trio.sleep(1)
        keepalives.open(recording_writer(fine), PING)
        await trio.sleep(47)  # at 48: "stuck" blocked in its first keep-alive since 15, "fine" pinged at 16, 31, 46
        assert stuck == [] and [t for t, _ in fine] == [16, 31, 46]
        gate.set()
        await trio.testing.wait_all_tasks_blocked()  # the unblocked keep-alive has been written
        assert [t for t, _ in stuck] == [48]

    run(main)


def test_many_streams_each_on_its_own_schedule() -> None:
    sent: dict[int, list[float]] = {i: [] for i in range(100)}

    async def main(keepalives: KeepAlives) -> None:
        outlets = []
        for i in range(100):
            log: list[tuple[float, bytes]] = []
            outlets.append((i, log, keepalives.open(recording_writer(log), PING)))
            await trio.sleep(0.1)
        await trio.sleep(40)
        for i, log, out in outlets:
            sent[i] = [t for t, _ in log]
            out.close()

    run(main)
    for i, times in sent.items():  # opened at i/10 s, all closed at 50 s
        opened = round(i * 0.1, 6)
        assert [round(t - opened, 6) for t in times] == [k * INTERVAL for k in (1, 2, 3) if opened + k * INTERVAL < 50]


def test_keepalives_that_come_due_close_together_go_in_one_wake_up() -> None:
    """With the default granularity, 100 streams opened over one second are pinged in a handful of wake-ups, each
    ping at most a quarter of a second late."""
    opened: list[float] = []
    sent: list[tuple[float, bytes]] = []

    async def main(keepalives: KeepAlives) -> None:
        outlets = []
        for _ in range(100):
            opened.append(trio.current_time())
            outlets.append(keepalives.open(recording_writer(sent), PING))
            await trio.sleep(0.01)
        await trio.sleep(INTERVAL + 1)
        for out in outlets:
            out.close()

    run(main, granularity=0.25)
    times = sorted(t for t, _ in sent)
    assert len(times) == 100 and len(set(times)) <= 6
    assert all(INTERVAL <= t - o <= INTERVAL + 0.25 + 1e-9 for t, o in zip(times, opened, strict=True))
