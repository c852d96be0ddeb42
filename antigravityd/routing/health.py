"""A health score per account: recent successes against recent failures, failures weighing four times as much.

    score = (successes + prior) / (successes + prior + 4 × failures)

Both counts decay exponentially with a **10-minute half-life**, so an account that failed a burst an hour ago is
judged by what it did since, and an account nobody used for a while drifts back to 1.0 — the one pseudo-success
``prior`` is what makes it drift (with pure decay both counts would shrink together and the ratio would never
move). With no data at all the score is exactly 1.0, as in the seed.

Ten minutes is long enough to remember a flapping account across a few lockout cycles (5–60 s) and short enough
that an account recovered from an outage is back to normal ordering within half an hour.
Times are monotonic seconds. The score orders accounts within a tier and quota band; it never excludes one
(lockouts and the circuit breaker do that).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Health", "HealthPolicy"]


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    failure_weight: float = 4.0
    half_life: float = 600.0
    prior: float = 1.0


class Health:
    __slots__ = ("_failures", "_last", "_successes", "policy", "total_failures", "total_successes")

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self._successes = 0.0
        self._failures = 0.0
        self._last = 0.0
        self.total_successes = 0
        self.total_failures = 0

    def record_success(self, now: float) -> None:
        self._decay(now)
        self._successes += 1.0
        self.total_successes += 1

    def record_failure(self, now: float) -> None:
        self._decay(now)
        self._failures += 1.0
        self.total_failures += 1

    def score(self, now: float) -> float:
        self._decay(now)
        good = self._successes + self.policy.prior
        return good / (good + self.policy.failure_weight * self._failures)

    def _decay(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            factor = 0.5 ** (elapsed / self.policy.half_life)
            self._successes *= factor
            self._failures *= factor
        self._last = max(self._last, now)

    def snapshot(self, now: float) -> dict[str, float | int]:
        return {
            "score": round(self.score(now), 4),
            "recent_successes": round(self._successes, 2),
            "recent_failures": round(self._failures, 2),
            "total_successes": self.total_successes,
            "total_failures": self.total_failures,
        }
