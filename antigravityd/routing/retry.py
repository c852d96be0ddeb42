"""The one retry policy, shared by the OpenAI, Anthropic and Gemini paths (the seed had three that disagreed).

The pipeline keeps one :class:`RetryState` per client request and asks it what to do after each failed upstream
attempt. The lockout, AIMD, breaker and health side effects of the same failure are the pool's business
(``pool.record_failure``); this module only decides the next step.

=======================  ==========================================================  ==============================
Failure                  Action (nothing sent to the client yet)                     Delay before the next attempt
=======================  ==========================================================  ==============================
any, bytes already sent  ABORT: end the stream with an in-stream error               —
BAD_REQUEST              RETURN the error to the client                              —
PROMPT_TOO_LONG          RETURN (the client should compact; keep Anthropic's phrase) —
SIGNATURE_INVALID        REWRITE signatures and retry, once per request; then RETURN 0
TRUNCATED                RETURN (``FailureKind.rotates`` is False for it)            —
UNAUTHENTICATED          REFRESH_TOKEN and retry the same account, once per account; 0
                         then ROTATE
RATE_LIMITED < 3 s       SAME_ACCOUNT, once per account; then ROTATE                 retry_after + 0.2 s
RATE_LIMITED ≥ 3 s/none  ROTATE                                                      0
RESOURCE_EXHAUSTED       ROTATE                                                      0
QUOTA_EXHAUSTED          ROTATE                                                      0
CAPACITY                 SAME_ACCOUNT once per account, then ROTATE                  retry_after or 1 s (≤ 3 s);
                                                                                     rotating: 1, 2, 4, 8 s
SERVER_ERROR             ROTATE                                                      0.5 s × count, ≤ 2 s
TRANSPORT, TIMEOUT,      ROTATE (the attempt already took its time)                  0
EMPTY_RESPONSE
INVALID_GRANT, FORBIDDEN ROTATE (the pool disabled or locked the account)            0
VERIFICATION_REQUIRED,
TOS_BANNED, NOT_FOUND
attempts ≥ max_attempts  RETURN the last error                                       —
=======================  ==========================================================  ==============================

"count" is how many failures of that class this request has had. Rotating means selecting again with every
account tried so far excluded; when the pool then has nothing, :func:`plan_unavailable` says whether to wait
(the earliest lock ends within ``max_wait``, default 2 s) or to fail fast with 429 and ``Retry-After``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.state import Unavailable, Why

__all__ = ["Action", "Decision", "RetryPolicy", "RetryState", "WaitPlan", "plan_unavailable"]

K = FailureKind


class Action(enum.StrEnum):
    ROTATE = "rotate"  # select another account (exclude the ones tried) and try again
    SAME_ACCOUNT = "same_account"  # keep the lease, wait ``delay``, try again
    REFRESH_TOKEN = "refresh_token"  # force a token refresh for this account, then try it again
    REWRITE = "rewrite_signatures"  # drop/replace thought signatures in the request, then try again
    RETURN = "return"  # give the error to the client in its dialect
    ABORT = "abort"  # output already started: close the stream with an in-stream error


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float = 0.0
    reason: str = ""

    @property
    def retries(self) -> bool:
        return self.action not in (Action.RETURN, Action.ABORT)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8  # config: upstream.max_attempts
    same_account_below: float = 3.0
    same_account_margin: float = 0.2
    capacity_first_delay: float = 1.0
    capacity_same_account_max: float = 3.0
    capacity_backoff: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    server_error_step: float = 0.5
    server_error_max: float = 2.0


class RetryState:
    """What has been tried for one client request."""

    __slots__ = (
        "_capacity_rotations", "_counts", "_refreshed", "_rewritten", "_same_account_used", "attempts", "policy",
    )

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self.attempts = 0
        self._counts: dict[FailureKind, int] = {}
        self._capacity_rotations = 0
        self._same_account_used = False  # per account: reset on rotation
        self._refreshed = False  # per account
        self._rewritten = False  # per request

    def next(self, failure: Failure, *, bytes_sent: bool) -> Decision:
        """Count the failed attempt and decide what comes next."""
        self.attempts += 1
        kind = failure.kind
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        p = self.policy
        if bytes_sent:
            return Decision(Action.ABORT, reason="output already sent")
        if kind is K.SIGNATURE_INVALID:
            if self._rewritten or self.attempts >= p.max_attempts:
                return Decision(Action.RETURN, reason="signature still rejected after a rewrite")
            self._rewritten = True
            return Decision(Action.REWRITE, reason="rewrite thought signatures")
        if not kind.rotates:
            return Decision(Action.RETURN, reason=f"{kind.value} is not retryable")
        if self.attempts >= p.max_attempts:
            return Decision(Action.RETURN, reason=f"gave up after {self.attempts} attempts")
        if kind is K.UNAUTHENTICATED:
            if not self._refreshed:
                self._refreshed = True
                return Decision(Action.REFRESH_TOKEN, reason="token rejected")
            return self._rotate(0.0, "token rejected after a refresh")
        if kind is K.RATE_LIMITED:
            wait = failure.retry_after
            if wait is not None and wait < p.same_account_below and not self._same_account_used:
                self._same_account_used = True
                return Decision(Action.SAME_ACCOUNT, max(0.0, wait) + p.same_account_margin, "short rate limit")
            return self._rotate(0.0, "rate limited")
        if kind is K.CAPACITY:
            if not self._same_account_used:
                self._same_account_used = True
                wait = failure.retry_after if failure.retry_after is not None else p.capacity_first_delay
                return Decision(Action.SAME_ACCOUNT, min(max(0.0, wait), p.capacity_same_account_max),
                                "model capacity")
            self._capacity_rotations += 1
            n = min(self._capacity_rotations, len(p.capacity_backoff))
            return self._rotate(p.capacity_backoff[n - 1], "model capacity")
        if kind is K.SERVER_ERROR:
            return self._rotate(min(p.server_error_step * count, p.server_error_max), "server error")
        return self._rotate(0.0, kind.value)

    def _rotate(self, delay: float, reason: str) -> Decision:
        self._same_account_used = False
        self._refreshed = False
        return Decision(Action.ROTATE, delay, reason)


@dataclass(frozen=True, slots=True)
class WaitPlan:
    """What to do when the pool had nothing: ``wait`` seconds then select again, or fail now with 429 and
    ``retry_after`` (whole seconds for the header; None = send no header)."""

    wait: float | None
    retry_after: int | None


def plan_unavailable(unavailable: Unavailable, *, max_wait: float = 2.0, waited: float = 0.0) -> WaitPlan:
    """Wait briefly when a lock ends (or, at capacity, a slot may free) within ``max_wait`` in total; else fail
    fast. ``waited`` is how long this request has already waited for the pool."""
    budget = max_wait - waited
    ra = unavailable.retry_after
    header = None if ra is None else max(1, math.ceil(ra))
    if budget <= 0:
        return WaitPlan(None, header)
    if ra is not None and ra <= budget:
        return WaitPlan(ra, header)
    if unavailable.reason is Why.AT_CAPACITY:  # a slot frees when any request ends: wait for a release
        return WaitPlan(budget if ra is None else min(ra, budget), header if header is not None else 1)
    return WaitPlan(None, header)
