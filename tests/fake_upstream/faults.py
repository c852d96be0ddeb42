"""Scripted failures: ``fake.inject(kind, account=..., model=..., times=...)``.

A fault matches a request by account (email, or any access/refresh token of the account), model and rpc; the
first matching fault (in injection order) fires and counts down ``times`` (``None`` = until cleared).
Error faults answer instead of generating; stream faults change how a successful stream is delivered.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Any

GENERATE_RPCS = frozenset({"generateContent", "streamGenerateContent"})


class FaultKind(enum.StrEnum):
    # error answers
    RATE_LIMIT = "rate_limit"  # 429 RATE_LIMIT_EXCEEDED + RetryInfo; params: delay (s, default 0.634846608)
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 QUOTA_EXHAUSTED; params: reset_in (s), message (template, {reset})
    RESOURCE_EXHAUSTED = "resource_exhausted"  # bare 429, no details
    CAPACITY = "capacity"  # 503 MODEL_CAPACITY_EXHAUSTED; params: retry_delay (s or None)
    SERVER_ERROR = "server_error"  # 500 INTERNAL
    UNAVAILABLE = "unavailable"  # 503 without a reason
    UNAUTHENTICATED = "unauthenticated"  # 401; params: reason (default ACCESS_TOKEN_EXPIRED)
    VERIFICATION_REQUIRED = "verification_required"  # 403 VALIDATION_REQUIRED; params: url
    TOS_VIOLATION = "tos_violation"  # 403 TOS_VIOLATION; params: appeal_url
    SERVICE_DISABLED = "service_disabled"  # 403 SERVICE_DISABLED
    NOT_FOUND = "not_found"  # 404 NOT_FOUND
    CUSTOM = "custom"  # params: status, body (JSON value or str), headers (list of pairs)
    # stream shapes (on generateContent: slow_first_byte and cut_stream apply, the rest answer normally)
    CUT_STREAM = "cut_stream"  # params: after_events (default 1), mode "close" (TCP cut) | "eof" (clean end)
    EMPTY_STREAM = "empty_stream"  # 200 and zero events
    THOUGHTS_ONLY = "thoughts_only"  # 200, N thought-only events (param count, default 3), no finishReason
    STALL = "stall"  # params: delay_ms, after_events (default 1), every (bool: between all events)
    SPLIT_UTF8 = "split_utf8"  # every event written in two pieces split inside a multi-byte character
    SLOW_FIRST_BYTE = "slow_first_byte"  # params: delay_ms before the status line
    HEARTBEATS = "heartbeats"  # params: count (default 3) ": keep-alive" comment lines first; only (bool): then EOF
    DROP_CONNECTION = "drop_connection"  # read the request, then close the TCP connection without any answer


ERROR_KINDS = frozenset({
    FaultKind.RATE_LIMIT, FaultKind.QUOTA_EXHAUSTED, FaultKind.RESOURCE_EXHAUSTED, FaultKind.CAPACITY,
    FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE, FaultKind.UNAUTHENTICATED, FaultKind.VERIFICATION_REQUIRED,
    FaultKind.TOS_VIOLATION, FaultKind.SERVICE_DISABLED, FaultKind.NOT_FOUND, FaultKind.CUSTOM,
    FaultKind.DROP_CONNECTION,
})

_ids = itertools.count(1)


@dataclass
class Fault:
    kind: FaultKind
    account: str | None = None  # email (tokens are resolved to the email at injection)
    model: str | None = None
    rpcs: frozenset[str] = GENERATE_RPCS  # {"*"} = every rpc, including loadCodeAssist, token, userinfo …
    times: int | None = 1  # None = until cleared
    params: dict[str, Any] = field(default_factory=dict)
    # Common params of error faults: retry_after (seconds or an HTTP date; sets Retry-After),
    # array (wrap the body in a JSON array, the older form of §4.1).
    hits: int = 0
    id: int = field(default_factory=lambda: next(_ids))

    def matches(self, email: str | None, model: str | None, rpc: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.account is not None and self.account != email:
            return False
        if self.model is not None and self.model != model:
            return False
        return "*" in self.rpcs or rpc in self.rpcs

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def to_json(self) -> dict:
        return {"id": self.id, "kind": str(self.kind), "account": self.account, "model": self.model,
                "rpcs": sorted(self.rpcs), "times": self.times, "hits": self.hits, "params": self.params}


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.active.append(fault)
        return fault

    def take(self, email: str | None, model: str | None, rpc: str, *, kinds: frozenset | None = None) -> Fault | None:
        for fault in self.active:
            if (kinds is None or fault.kind in kinds) and fault.matches(email, model, rpc):
                fault.hits += 1
                if fault.exhausted:
                    self.active.remove(fault)
                return fault
        return None

    def clear(self, fault_id: int | None = None) -> None:
        self.active = [] if fault_id is None else [f for f in self.active if f.id != fault_id]
