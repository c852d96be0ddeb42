"""Bounded client load for the deploy test: keep-alive requests and SSE streams from many clients at once,
counting every failure (an exception, a bad status, a short stream) — the zero-downtime claim is "none"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import trio

PACE = 0.05  # seconds between one client's requests: enough load to overlap every switch, not a benchmark
STREAM_EVENTS = 20


@dataclass
class LoadStats:
    requests: int = 0
    streams: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str, problem: object) -> None:
        self.failures.append(f"{what}: {problem!r}")


async def keepalive_client(base_url: str, stop: trio.Event, stats: LoadStats) -> None:
    """One connection, reused: /health and /version in turn."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        n = 0
        while not stop.is_set():
            path = "/health" if n % 2 == 0 else "/version"
            n += 1
            try:
                response = await client.get(path)
                body = response.json()
                if response.status_code != 200 or not body:
                    stats.fail(path, f"{response.status_code} {body}")
                else:
                    stats.requests += 1
            except Exception as e:
                stats.fail(path, e)
            await trio.sleep(PACE)


async def stream_client(base_url: str, stop: trio.Event, stats: LoadStats) -> None:
    """Server-sent event streams of STREAM_EVENTS events (about 0.4 s each), one after another."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        while not stop.is_set():
            try:
                async with client.stream("GET", f"/e2e/stream?n={STREAM_EVENTS}&delay=0.02") as response:
                    data = [line async for line in response.aiter_lines() if line.startswith("data: ")]
                expected = [f'data: {{"i":{i}}}' for i in range(STREAM_EVENTS)] + ["data: [DONE]"]
                if response.status_code != 200 or data != expected:
                    stats.fail("stream", f"{response.status_code}, {len(data)} events")
                else:
                    stats.streams += 1
            except Exception as e:
                stats.fail("stream", e)
            await trio.sleep(PACE)


@asynccontextmanager
async def load(base_url: str, keepalive: int = 12, streams: int = 10) -> AsyncIterator[LoadStats]:
    """Run ``keepalive + streams`` clients while the body runs; they finish their current exchange on exit."""
    stats = LoadStats()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(keepalive):
            nursery.start_soon(keepalive_client, base_url, stop, stats)
        for _ in range(streams):
            nursery.start_soon(stream_client, base_url, stop, stats)
        try:
            yield stats
        finally:
            stop.set()
