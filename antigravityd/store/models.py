"""Value types the repository hands out and takes in. All frozen: a change goes through the repository.

Times are timezone-aware UTC ``datetime`` objects, except where a field says otherwise (``Credentials.expires_at``
is epoch seconds because the token code does arithmetic on it; ``ModelMapping.updated_at`` is epoch milliseconds
because it is the LWW clock exchanged with other instances).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "Account",
    "AccountDraft",
    "AccountEvent",
    "Credentials",
    "EventKind",
    "ModelMapping",
    "ModelQuota",
    "ProjectSource",
    "QuotaSnapshot",
    "RequestRecord",
    "SignatureKind",
    "SignatureRecord",
    "StatsDimension",
    "StatsRow",
    "TokenTotals",
]

ProjectSource = Literal["upstream", "fallback"]
SignatureKind = Literal["tool_call", "session", "content"]
StatsDimension = Literal["hour", "day", "model", "account"]


class EventKind(enum.StrEnum):
    """Account lifecycle events. The values are stored in ``account_events.kind`` and never change."""

    CREATED = "account_created"
    UPDATED = "account_updated"
    DELETED = "account_deleted"
    DISABLED = "account_disabled"
    ENABLED = "account_enabled"
    TOKEN_REFRESHED = "token_refreshed"
    REFRESH_TOKEN_ROTATED = "refresh_token_rotated"
    QUOTA_UPDATED = "quota_updated"
    RATE_LIMITED = "rate_limited"
    MODEL_PROTECTED = "model_protected"
    MODEL_UNPROTECTED = "model_unprotected"
    VERIFICATION_REQUIRED = "verification_required"
    PROXY_CHANGED = "proxy_changed"


@dataclass(frozen=True, slots=True)
class Account:
    id: str  # UUID string, the one id scheme everywhere
    email: str  # lower-case, unique
    name: str | None
    tier: str | None
    disabled: bool  # globally off (e.g. invalid_grant): no refresh, no traffic
    disabled_reason: str | None
    disabled_at: datetime | None
    proxy_disabled: bool  # excluded from the proxy pool only (verification, operator toggle)
    proxy_disabled_reason: str | None
    proxy_disabled_at: datetime | None
    protected_models: frozenset[str]  # models quota protection currently keeps this account away from
    proxy_url: str | None  # per-account outbound proxy; may hold credentials: encrypted at rest, redact in logs
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None

    @property
    def serves_traffic(self) -> bool:
        return not self.disabled and not self.proxy_disabled


@dataclass(frozen=True, slots=True)
class Credentials:
    """Decrypted OAuth state of one account. Lives in memory only; ``repr`` never shows a token."""

    account_id: str
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # epoch seconds of the access token's expiry
    project_id: str | None = None
    project_source: ProjectSource | None = None  # "fallback" = the configured default, not Google's answer


@dataclass(frozen=True, slots=True)
class ModelQuota:
    remaining_fraction: float | None  # 0.0 … 1.0; None when upstream did not say
    reset_time: datetime | None


@dataclass(frozen=True, slots=True)
class QuotaSnapshot:
    models: Mapping[str, ModelQuota]  # treat as read-only
    forbidden: bool = False  # fetchAvailableModels answered 403
    tier: str | None = None
    fetched_at: datetime | None = None  # None = "now" when written


@dataclass(frozen=True, slots=True)
class AccountEvent:
    id: int
    account_id: str | None  # None once the account is deleted (the event itself survives)
    email: str | None
    kind: str  # an EventKind value (kept as str so rows written by a newer version still load)
    details: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountDraft:
    """Input of ``create_account``/``upsert_account``. ``None`` means "not given": keep what is stored.

    ``id`` is honoured only when creating (an importer keeps the original UUID); an existing account keeps its id.
    """

    email: str
    refresh_token: str = field(repr=False)
    id: str | None = None
    name: str | None = None
    tier: str | None = None
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    project_id: str | None = None
    project_source: ProjectSource | None = None
    disabled: bool | None = None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    proxy_disabled: bool | None = None
    proxy_disabled_reason: str | None = None
    proxy_disabled_at: datetime | None = None
    protected_models: frozenset[str] | None = None
    proxy_url: str | None = None
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    quota: QuotaSnapshot | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Metadata of one proxied request. Never content: no prompt, no response, no query string, no key."""

    request_id: str
    ts: datetime  # when the request arrived
    dialect: str  # "openai" | "anthropic" | "gemini" | ...
    path: str  # route path only; the repository drops anything after "?"
    status: int
    requested_model: str | None = None
    mapped_model: str | None = None
    account_id: str | None = None
    account_email: str | None = None
    error_class: str | None = None  # a FailureKind value or another short class name
    tokens_in: int = 0  # prompt tokens including cached ones
    tokens_out: int = 0
    tokens_cached: int = 0
    tokens_thinking: int = 0
    latency_ms: int = 0
    ttfb_ms: int | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One bucket of request statistics. ``key`` is the model name, the account id ("" = no account chosen) or,
    for time buckets, the ISO-8601 UTC start of the bucket (also in ``start``)."""

    key: str
    label: str  # account email for account buckets, else the key
    start: datetime | None
    requests: int
    errors: int
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    tokens_thinking: int
    latency_ms_sum: int

    @property
    def avg_latency_ms(self) -> float | None:
        return self.latency_ms_sum / self.requests if self.requests else None

    @property
    def success_rate(self) -> float | None:
        return (self.requests - self.errors) / self.requests if self.requests else None


@dataclass(frozen=True, slots=True)
class TokenTotals:
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    tokens_thinking: int = 0

    @property
    def cache_hit_rate(self) -> float | None:
        """Share of prompt tokens served from the upstream cache; None when no prompt tokens were counted."""
        return self.tokens_cached / self.tokens_in if self.tokens_in else None


@dataclass(frozen=True, slots=True)
class ModelMapping:
    """A model alias, synchronised between instances last-writer-wins on ``updated_at`` (epoch ms)."""

    key: str
    target: str  # "" on a tombstone
    updated_at: int
    deleted: bool = False

    def beats(self, other: ModelMapping | None) -> bool:
        """Whether this entry replaces ``other`` under LWW.

        Ties on the timestamp are broken by a total order on the remaining fields, so every instance picks the
        same winner whatever order entries arrive in (merging is commutative, associative and idempotent).
        """
        if other is None:
            return True
        return (self.updated_at, self.deleted, self.target) > (other.updated_at, other.deleted, other.target)


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    kind: SignatureKind
    key: str
    signature: str = field(repr=False)
    model_family: str
    created_at: datetime
    last_used_at: datetime
