"""A circuit breaker per account.

::

    CLOSED --N consecutive failures--> OPEN --open_seconds pass--> HALF_OPEN --M probe successes--> CLOSED
                                        ^                              |
                                        +------ a probe fails ---------+

* CLOSED: requests pass; a success resets the failure count.
* OPEN: the account is skipped until ``open_seconds`` have passed (a request would most likely fail too, and
  failing fast lets the pool try a healthy account at once).
* HALF_OPEN: exactly **one** probe request at a time. The lease that takes it carries ``probe=True``; its
  success counts towards closing, its failure re-opens, and if it ends with neither (cancelled, or a failure that
  says nothing about the account such as a client error) the probe slot is simply given back.

Outcomes of requests that started before the circuit opened say nothing about the present; they are ignored
unless the circuit is CLOSED. Which failure kinds count is the pool's decision (``BREAKER_KINDS`` there).
All times are monotonic seconds; the OPEN → HALF_OPEN move happens lazily when the state is next read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Breaker", "BreakerPolicy", "CircuitState"]


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_seconds: float = 60.0
    success_threshold: int = 2


class Breaker:
    __slots__ = ("_state", "failures", "opened_at", "policy", "probe_in_flight", "successes", "trips")

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._state = CircuitState.CLOSED
        self.failures = 0  # consecutive, while CLOSED
        self.successes = 0  # probe successes, while HALF_OPEN
        self.opened_at = 0.0
        self.probe_in_flight = False
        self.trips = 0

    def state(self, now: float) -> CircuitState:
        if self._state is CircuitState.OPEN and now >= self.opened_at + self.policy.open_seconds:
            self._state = CircuitState.HALF_OPEN
            self.successes = 0
            self.probe_in_flight = False
        return self._state

    def allows(self, now: float) -> bool:
        """Whether a new request may go to this account now."""
        state = self.state(now)
        return state is CircuitState.CLOSED or (state is CircuitState.HALF_OPEN and not self.probe_in_flight)

    def reopens_at(self, now: float) -> float | None:
        """When an OPEN circuit will let a probe through (monotonic), ``None`` if it is not open."""
        if self.state(now) is CircuitState.OPEN:
            return self.opened_at + self.policy.open_seconds
        return None

    def acquire(self, now: float) -> bool:
        """Take a request slot (call only after :meth:`allows`); True when this request is the half-open probe."""
        if self.state(now) is CircuitState.HALF_OPEN:
            self.probe_in_flight = True
            return True
        return False

    def release_probe(self) -> None:
        """The probe ended without a verdict: let another request probe."""
        self.probe_in_flight = False

    def record_success(self, now: float, *, probe: bool) -> CircuitState | None:
        """Returns the new state when this success changed it."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            self.failures = 0
            return None
        if state is CircuitState.HALF_OPEN and probe:
            self.probe_in_flight = False
            self.successes += 1
            if self.successes >= self.policy.success_threshold:
                self._state = CircuitState.CLOSED
                self.failures = 0
                return CircuitState.CLOSED
        return None

    def record_failure(self, now: float, *, probe: bool) -> CircuitState | None:
        """Returns the new state when this failure changed it."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            self.failures += 1
            if self.failures >= self.policy.failure_threshold:
                self._open(now)
                return CircuitState.OPEN
            return None
        if state is CircuitState.HALF_OPEN and probe:
            self._open(now)
            return CircuitState.OPEN
        return None

    def reset(self) -> None:
        self._state = CircuitState.CLOSED
        self.failures = self.successes = 0
        self.probe_in_flight = False

    def _open(self, now: float) -> None:
        self._state = CircuitState.OPEN
        self.opened_at = now
        self.successes = 0
        self.probe_in_flight = False
        self.trips += 1

    def snapshot(self, now: float) -> dict[str, object]:
        state = self.state(now)
        reopens = self.reopens_at(now)
        return {
            "state": state.value,
            "consecutive_failures": self.failures,
            "probe_successes": self.successes,
            "probe_in_flight": self.probe_in_flight,
            "trips": self.trips,
            "opens_for": None if reopens is None else round(reopens - now, 3),
        }
