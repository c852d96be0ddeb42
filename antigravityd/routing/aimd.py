"""AIMD: a learned requests-per-minute ceiling per account.

Google does not publish per-account rate limits, so we learn one the way TCP learns a congestion window: the
ceiling grows slowly while the account keeps succeeding *at or above* its working threshold (additive increase,
+5 % after three such successes in a row) and drops sharply on a 429 (multiplicative decrease, ×0.7). Selection
skips an account whose recent rate exceeds ``ratio × threshold`` so that it backs off *before* Google says no.

Parameters are the seed's (seed-features §6.5): start at 15 RPM, working threshold = floor(limit × 0.85),
limit in [10, 1000].

The rate is a **sliding** one-minute estimate from two fixed buckets (this minute's count plus the previous
minute's, weighted by how much of it still overlaps the last 60 s). A plain fixed window would report a rate of 0
at the start of every minute and let a burst through at each boundary. All times are monotonic seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Aimd", "AimdPolicy"]


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    initial_limit: int = 15
    safety_margin: float = 0.85
    increase: float = 0.05
    decrease: float = 0.7
    min_limit: int = 10
    max_limit: int = 1000
    reward_streak: int = 3
    window: float = 60.0


class Aimd:
    """One account's learned limit and its request counter."""

    __slots__ = ("_bucket", "_current", "_previous", "_streak", "limit", "penalties", "policy", "rewards", "threshold")

    def __init__(self, policy: AimdPolicy | None = None) -> None:
        self.policy = policy or AimdPolicy()
        self._set_limit(max(self.policy.min_limit, min(self.policy.initial_limit, self.policy.max_limit)))
        self._bucket = 0  # index of the current window: floor(now / window)
        self._current = 0
        self._previous = 0
        self._streak = 0
        self.rewards = 0
        self.penalties = 0

    def _set_limit(self, limit: int) -> None:
        self.limit = limit
        # The working rate: a safety margin below the learned limit (never below 1).
        self.threshold = max(1, math.floor(limit * self.policy.safety_margin))

    def surely_within(self, ratio: float) -> bool:
        """A cheap sufficient test for ``usage_ratio <= ratio`` at any later time: the two raw counts bound the
        sliding estimate from above, and the estimate only falls until the next request is counted."""
        return self._current + self._previous <= ratio * self.threshold

    def rate(self, now: float) -> float:
        """Estimated requests in the last ``window`` seconds."""
        self._roll(now)
        window = self.policy.window
        elapsed = now - self._bucket * window
        overlap = max(0.0, 1.0 - elapsed / window)
        return self._current + self._previous * overlap

    def usage_ratio(self, now: float) -> float:
        return self.rate(now) / self.threshold

    def below_ratio_at(self, ratio: float, now: float) -> float:
        """The earliest time (≥ now) at which ``usage_ratio <= ratio`` if no further request is counted.

        Within a window the estimate only falls (the previous window's share fades linearly), and at the next
        boundary this window's count becomes the fading share; solving those two lines gives the answer.
        """
        self._roll(now)
        ceiling = ratio * self.threshold
        window = self.policy.window
        start = self._bucket * window
        if self._current <= ceiling:
            if self._previous <= 0:
                return now
            # current + previous × (1 − (t − start)/window) ≤ ceiling
            t = start + window * (1.0 - (ceiling - self._current) / self._previous)
            return max(now, t)
        # Not before the next window; then current × (1 − (t − next)/window) ≤ ceiling.
        nxt = start + window
        return max(now, nxt + window * (1.0 - ceiling / self._current))

    def record_request(self, now: float) -> None:
        """Count one request sent to the account (called when a lease is taken)."""
        self._roll(now)
        self._current += 1

    def record_success(self, now: float) -> bool:
        """A success; returns True when it earned a reward (the limit grew)."""
        if self.rate(now) <= self.threshold:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak < self.policy.reward_streak:
            return False
        self._streak = 0
        grown = max(self.limit + 1, round(self.limit * (1 + self.policy.increase)))
        grown = min(grown, self.policy.max_limit)
        if grown == self.limit:
            return False
        self._set_limit(grown)
        self.rewards += 1
        return True

    def record_rate_limited(self, now: float) -> None:
        """A 429: the account's real limit is below what we were doing."""
        self._streak = 0
        self._set_limit(max(self.policy.min_limit, math.floor(self.limit * self.policy.decrease)))
        self.penalties += 1

    def record_error(self) -> None:
        """Any other failure interrupts a reward streak but says nothing about the rate limit."""
        self._streak = 0

    def _roll(self, now: float) -> None:
        bucket = math.floor(now / self.policy.window)
        if bucket == self._bucket:
            return
        # Anything but the next window (a gap, or a clock that went backwards) leaves nothing that overlaps.
        self._previous = self._current if bucket == self._bucket + 1 else 0
        self._current = 0
        self._bucket = bucket

    def snapshot(self, now: float) -> dict[str, float | int]:
        return {
            "limit": self.limit,
            "threshold": self.threshold,
            "rate": round(self.rate(now), 2),
            "usage_ratio": round(self.usage_ratio(now), 3),
            "rewards": self.rewards,
            "penalties": self.penalties,
        }
