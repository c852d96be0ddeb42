"""A bounded load of keep-alive requests and SSE streams, counting every failure (used by restart tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import trio


@dataclass
class LoadResult:
    ok: int = 0
    streams_ok: int = 0
    failures: Counter = field(default_factory=Counter)
    max_latency: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


async def _request_worker(url: str, headers: dict[str, str], stop: trio.Event, result: LoadResult) -> None:
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:  # one keep-alive connection per worker
        while not stop.is_set():
            started = trio.current_time()
            try:
                r = await client.get(url + "/health")
                if r.status_code == 200 and r.json() == {"status": "ok"}:
                    result.ok += 1
                else:
                    result.failures[f"status {r.status_code}"] += 1
            except httpx.HTTPError as e:
                result.failures[type(e).__name__] += 1
            result.max_latency = max(result.max_latency, trio.current_time() - started)


async def _stream_worker(url: str, headers: dict[str, str], stop: trio.Event, result: LoadResult,
                         events: int, interval_ms: int) -> None:
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        while not stop.is_set():
            try:
                async with client.stream(
                    "GET", f"{url}/api/diagnostics/stream?events={events}&interval_ms={interval_ms}"
                ) as r:
                    data = [line async for line in r.aiter_lines() if line.startswith("data:")]
                if r.status_code == 200 and len(data) == events + 1 and data[-1] == "data: [DONE]":
                    result.streams_ok += 1
                else:
                    result.failures[f"stream status {r.status_code} with {len(data)} events"] += 1
            except httpx.HTTPError as e:
                result.failures["stream " + type(e).__name__] += 1


async def wait_for_progress(result: LoadResult, *, requests: int, streams: int, timeout: float = 60.0) -> None:
    """Wait until the load has made this much more progress (pacing by work done, not by wall time)."""
    target_ok, target_streams = result.ok + requests, result.streams_ok + streams
    with trio.fail_after(timeout):
        while result.ok < target_ok or result.streams_ok < target_streams:
            await trio.sleep(0.01)


async def run_load(url: str, headers: dict[str, str], *, requests: int, streams: int,
                   during: Callable[[LoadResult], Awaitable[None]], events: int = 20,
                   interval_ms: int = 20) -> LoadResult:
    """Run ``requests`` request workers and ``streams`` stream workers until ``during(result)`` returns."""
    result = LoadResult()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(requests):
            nursery.start_soon(_request_worker, url, headers, stop, result)
        for _ in range(streams):
            nursery.start_soon(_stream_worker, url, headers, stop, result, events, interval_ms)
        try:
            await during(result)
        finally:
            stop.set()  # workers finish their current request or stream, then return
    return result
