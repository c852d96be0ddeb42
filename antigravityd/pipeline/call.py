"""The flow object: one client request's journey through the gateway (the mitmproxy "flow", STYLE.md).

The API layer creates a :class:`Call` from the parsed request; the pipeline fills in the account, attempts,
timings and usage; the request log, the metrics and the access log read it at the end. Nothing in it is request
or response content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from antigravityd.outcomes import FailureKind
from antigravityd.store import RequestRecord

__all__ = ["Call", "Usage"]


@dataclass(slots=True)
class Usage:
    prompt: int = 0  # including cached prompt tokens
    output: int = 0  # visible output
    cached: int = 0
    thinking: int = 0


@dataclass(slots=True)
class Call:
    request_id: str
    dialect: str
    path: str
    stream: bool
    requested_model: str
    upstream_model: str = ""
    mapping_reason: str = ""
    session_id: str | None = None
    force_account: str | None = None
    started: float = 0.0  # trio.current_time() when the request arrived
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # filled by the pipeline
    account_id: str | None = None
    account_email: str | None = None
    attempts: int = 0
    failures: list[FailureKind] = field(default_factory=list)
    status: int = 0
    error_class: str | None = None
    usage: Usage = field(default_factory=Usage)
    first_byte: float | None = None  # trio time of the first byte sent to the client
    finished: float | None = None
    committed: bool = False  # the status line went out: from here a failure can only abort the stream
    truncated: bool = False
    aborted: bool = False

    def record(self) -> RequestRecord:
        end = self.finished if self.finished is not None else self.started
        return RequestRecord(
            request_id=self.request_id,
            ts=self.received_at,
            dialect=self.dialect,
            path=self.path,
            status=self.status,
            requested_model=self.requested_model or None,
            mapped_model=self.upstream_model or None,
            account_id=self.account_id,
            account_email=self.account_email,
            error_class=self.error_class,
            tokens_in=self.usage.prompt,
            tokens_out=self.usage.output,
            tokens_cached=self.usage.cached,
            tokens_thinking=self.usage.thinking,
            latency_ms=max(0, round((end - self.started) * 1000)),
            ttfb_ms=round((self.first_byte - self.started) * 1000) if self.first_byte is not None else None,
            stream=self.stream,
        )
