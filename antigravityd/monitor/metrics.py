"""Prometheus metrics, on a dedicated registry per daemon (never the global one: tests run several daemons).

Labels are bounded by construction: routes are route *patterns*, models are upstream model ids, accounts are
the configured accounts' emails. ``.labels()`` children for hot paths are cached (1.1 µs vs 2.5 µs per
observation, stack-notes §7).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

        # --- HTTP server
        self.http_requests = Counter("antigravityd_http_requests_total", "HTTP requests answered",
                                     ["route", "status"], registry=r)
        self.http_duration = Histogram("antigravityd_http_request_duration_seconds",
                                       "Time from request head to end of response", ["route"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.http_aborted = Counter("antigravityd_http_streams_aborted_total",
                                    "Streaming responses cut before their end", registry=r)
        self.http_in_flight = Gauge("antigravityd_http_in_flight", "Requests being handled", registry=r)
        self.http_connections = Gauge("antigravityd_http_connections", "Open client connections", registry=r)

        # --- daemon
        self.task_crashes = Counter("antigravityd_task_crashes_total", "Background task crashes", ["task"],
                                    registry=r)
        self.build_info = Gauge("antigravityd_build_info", "Version of the running daemon", ["version"],
                                registry=r)

    def track(self, gauge: Gauge, fn: Callable[[], float]) -> None:
        gauge.set_function(fn)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 — bounded, and a Metrics object lives as long as the daemon
    def _http_children(self, route: str, status: int) -> tuple[Counter, Histogram]:
        return self.http_requests.labels(route, str(status)), self.http_duration.labels(route)

    def observe_http(self, route: str, status: int, seconds: float, aborted: bool) -> None:
        counter, histogram = self._http_children(route or "unmatched", status)
        counter.inc()
        histogram.observe(seconds)
        if aborted:
            self.http_aborted.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
