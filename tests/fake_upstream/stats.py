"""Counters the fake keeps about what it saw, and a way for tests to *wait* on them instead of sleeping.

``await stats.wait_until(lambda s: s.disconnects >= 1)`` returns as soon as the condition holds; every change to
the counters re-evaluates the pending conditions. Wrap it in ``trio.fail_after`` so a bug fails the test instead
of hanging it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio


@dataclass
class RecordedRequest:
    """One request as the fake saw it (tests assert what the daemon actually sent)."""

    rpc: str  # "streamGenerateContent", "token", "userinfo", ...
    path: str
    email: str | None
    model: str | None
    headers: dict[str, str]
    body: Any  # parsed JSON, the form dict for /token, or None
    status: int = 0


@dataclass
class Disconnect:
    rpc: str
    email: str | None
    model: str | None


@dataclass
class Stats:
    requests: Counter = field(default_factory=Counter)  # (email | None, rpc) -> n
    in_flight: Counter = field(default_factory=Counter)  # email -> generate calls in progress
    peak_concurrency: Counter = field(default_factory=Counter)  # email -> highest in_flight seen
    disconnects: int = 0  # requests whose client closed the connection before the response finished
    disconnect_log: list[Disconnect] = field(default_factory=list)
    faults_fired: Counter = field(default_factory=Counter)  # fault kind -> n
    recorded: deque = field(default_factory=lambda: deque(maxlen=2000))
    _waiters: list[tuple[Callable[[Stats], bool], trio.Event]] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------------- queries

    def count(self, email: str | None = None, rpc: str | None = None) -> int:
        """Requests seen, optionally filtered by account email and/or rpc name."""
        return sum(n for (e, r), n in self.requests.items()
                   if (email is None or e == email) and (rpc is None or r == rpc))

    def by_account(self, email: str) -> dict[str, int]:
        return {r: n for (e, r), n in self.requests.items() if e == email}

    def by_rpc(self) -> dict[str, int]:
        out: Counter = Counter()
        for (_, rpc), n in self.requests.items():
            out[rpc] += n
        return dict(out)

    def snapshot(self) -> dict:
        return {
            "requests": [{"email": e, "rpc": r, "count": n} for (e, r), n in sorted(self.requests.items(), key=str)],
            "by_rpc": self.by_rpc(),
            "in_flight": dict(self.in_flight),
            "peak_concurrency": dict(self.peak_concurrency),
            "disconnects": self.disconnects,
            "disconnect_log": [vars(d) for d in self.disconnect_log[-100:]],
            "faults_fired": dict(self.faults_fired),
        }

    # ---------------------------------------------------------------------------------------------- updates

    def record_request(self, email: str | None, rpc: str) -> None:
        self.requests[(email, rpc)] += 1
        self.changed()

    def enter(self, email: str) -> None:
        self.in_flight[email] += 1
        if self.in_flight[email] > self.peak_concurrency[email]:
            self.peak_concurrency[email] = self.in_flight[email]
        self.changed()

    def leave(self, email: str) -> None:
        self.in_flight[email] -= 1
        self.changed()

    def record_disconnect(self, rpc: str, email: str | None, model: str | None) -> None:
        self.disconnects += 1
        self.disconnect_log.append(Disconnect(rpc, email, model))
        self.changed()

    def reset(self) -> None:
        self.requests.clear()
        self.peak_concurrency.clear()
        self.peak_concurrency.update({e: n for e, n in self.in_flight.items() if n})
        self.disconnects = 0
        self.disconnect_log.clear()
        self.faults_fired.clear()
        self.recorded.clear()
        self.changed()

    # ---------------------------------------------------------------------------------------------- waiting

    def changed(self) -> None:
        still = []
        for predicate, event in self._waiters:
            if predicate(self):
                event.set()
            else:
                still.append((predicate, event))
        self._waiters = still

    async def wait_until(self, predicate: Callable[[Stats], bool]) -> None:
        """Return once ``predicate(stats)`` is true (checked now and after every counter change)."""
        if predicate(self):
            return
        entry = (predicate, trio.Event())
        self._waiters.append(entry)
        try:
            await entry[1].wait()
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
