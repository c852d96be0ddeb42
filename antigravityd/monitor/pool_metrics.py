"""Per-account routing state as Prometheus gauges, read from the pool at scrape time.

The pool is trio-owned state, so the snapshot is taken on the trio thread (``snapshot()``, called by the
``/metrics`` handler) and rendered later in a worker thread from that copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import trio
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from antigravityd.routing.pool import AccountPool

__all__ = ["PoolCollector"]

_CIRCUIT = {"closed": 0, "half_open": 1, "open": 2}


class PoolCollector(Collector):
    def __init__(self, pool: AccountPool) -> None:
        self.pool = pool
        self._accounts: list[dict[str, object]] = []

    def snapshot(self) -> None:
        self._accounts = self.pool.accounts_view(now=trio.current_time(), wall=time.time())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        accounts = self._accounts
        in_flight = GaugeMetricFamily("antigravityd_account_in_flight", "Requests in flight per account",
                                      labels=["account"])
        usable = GaugeMetricFamily("antigravityd_account_usable", "1 when the account takes traffic",
                                   labels=["account"])
        health = GaugeMetricFamily("antigravityd_account_health", "Health score (0..1)", labels=["account"])
        circuit = GaugeMetricFamily("antigravityd_account_circuit_state",
                                    "Circuit breaker: 0 closed, 1 half-open, 2 open", labels=["account"])
        aimd = GaugeMetricFamily("antigravityd_account_aimd_usage_ratio",
                                 "Requests this minute over the learned ceiling", labels=["account"])
        locks = GaugeMetricFamily("antigravityd_account_lockouts", "Active lockouts by reason",
                                  labels=["account", "reason"])
        quota = GaugeMetricFamily("antigravityd_account_quota_remaining_ratio",
                                  "Remaining quota per account and model (0..1)", labels=["account", "model"])
        for a in accounts:
            email = str(a["email"])
            in_flight.add_metric([email], float(a["in_flight"]))  # type: ignore[arg-type]
            usable.add_metric([email], float(bool(a["enabled"]) and not a["proxy_disabled"]))
            health.add_metric([email], float(a["health"]))  # type: ignore[arg-type]
            circuit.add_metric([email], _CIRCUIT.get(str(a["circuit"]), 0))
            ratio = (a.get("aimd") or {}).get("usage_ratio")  # type: ignore[union-attr]
            if isinstance(ratio, int | float):
                aimd.add_metric([email], float(ratio))
            reasons: dict[str, int] = {}
            for lock in a["lockouts"]:  # type: ignore[union-attr]
                reason = str(lock["reason"]).split(":", 1)[0]
                reasons[reason] = reasons.get(reason, 0) + 1
            for reason, count in reasons.items():
                locks.add_metric([email, reason], count)
            for model, q in ((a.get("quota") or {}).get("models") or {}).items():  # type: ignore[union-attr]
                fraction = q.get("fraction") if isinstance(q, dict) else None
                if isinstance(fraction, int | float):
                    quota.add_metric([email, model], float(fraction))
        yield from (in_flight, usable, health, circuit, aimd, locks, quota)
