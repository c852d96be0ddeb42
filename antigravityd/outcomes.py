"""The vocabulary shared by the upstream client, the pipeline and the routing policy.

An upstream call ends in an :class:`Outcome`. The upstream layer produces it (classifying HTTP status, Google
error bodies and transport failures, see ``upstream/errors.py``); the routing layer consumes it to decide
lockouts, AIMD, circuit breakers and health; the pipeline uses it to decide whether to try another account.
This module imports nothing so that the pure ``routing/`` and ``translate/`` packages can depend on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    """Why an upstream attempt failed. Values are stable: they appear in metrics, events and the request log."""

    RATE_LIMITED = "rate_limited"  # 429 RATE_LIMIT_EXCEEDED, or a 429 whose text says rate limit / per minute
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 QUOTA_EXHAUSTED: long window, the model is out for this account
    CAPACITY = "capacity"  # 503 MODEL_CAPACITY_EXHAUSTED / "No capacity available": not the account's fault
    RESOURCE_EXHAUSTED = "resource_exhausted"  # bare 429 RESOURCE_EXHAUSTED without a reason: short soft retry
    SERVER_ERROR = "server_error"  # 500/502/503/504/529 without a capacity reason
    UNAUTHENTICATED = "unauthenticated"  # 401: refresh the token, then retry
    INVALID_GRANT = "invalid_grant"  # the refresh token was revoked: the account needs re-authorisation
    VERIFICATION_REQUIRED = "verification_required"  # 403 VALIDATION_REQUIRED and friends
    TOS_BANNED = "tos_banned"  # 403 TOS_VIOLATION and friends
    FORBIDDEN = "forbidden"  # any other 403
    NOT_FOUND = "not_found"  # 404: model not available to this account/tier/host
    BAD_REQUEST = "bad_request"  # 400 that is the request's fault: return it to the client, do not rotate
    SIGNATURE_INVALID = "signature_invalid"  # 400 about thought signatures: rewrite the request and retry once
    PROMPT_TOO_LONG = "prompt_too_long"  # 400 context limit: client should compact
    TRANSPORT = "transport"  # connect/read failure, reset, TLS, DNS
    TIMEOUT = "timeout"  # no first chunk within the peek deadline, or a total deadline hit
    EMPTY_RESPONSE = "empty_response"  # 200 with no meaningful chunk before EOF
    TRUNCATED = "truncated"  # the stream ended without a finish reason after output started

    @property
    def rotates(self) -> bool:
        """Whether another account may succeed where this one failed (before any byte reached the client)."""
        return self not in _NO_ROTATE

    @property
    def is_client_error(self) -> bool:
        return self in (FailureKind.BAD_REQUEST, FailureKind.PROMPT_TOO_LONG)


_NO_ROTATE = frozenset(
    {FailureKind.BAD_REQUEST, FailureKind.PROMPT_TOO_LONG, FailureKind.SIGNATURE_INVALID, FailureKind.TRUNCATED}
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified upstream failure.

    ``retry_after`` is how long (seconds) the upstream asked us to wait, from ``Retry-After``, ``RetryInfo`` or
    ``quotaResetDelay``; ``reset_at`` is an absolute epoch time from ``quotaResetTimeStamp`` when given.
    ``message`` is safe to show a client: it never contains upstream bodies that could echo prompt content.
    """

    kind: FailureKind
    status: int | None = None
    reason: str = ""  # ErrorInfo.reason as sent upstream, e.g. "QUOTA_EXHAUSTED"
    message: str = ""
    retry_after: float | None = None
    reset_at: float | None = None
    model: str | None = None
    detail_url: str | None = None  # validation/appeal URL for an operator (403 verification, ToS)
