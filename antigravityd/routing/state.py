"""The values the account pool takes in and gives out: account snapshots, runtime state, settings, events.

Nothing here holds a token. The pool routes by account id; the caller maps the id to credentials.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from antigravityd.routing.aimd import Aimd, AimdPolicy
from antigravityd.routing.breaker import Breaker, BreakerPolicy
from antigravityd.routing.health import Health, HealthPolicy
from antigravityd.routing.lockouts import LockoutPolicy
from antigravityd.routing.quota import ModelQuota, ProtectionPolicy, QuotaBook
from antigravityd.routing.sessions import SessionPolicy
from antigravityd.routing.tiers import tier_from_id

__all__ = [
    "AccountSnapshot",
    "AccountState",
    "EventKind",
    "PoolEvent",
    "PoolSettings",
    "Unavailable",
    "Why",
]


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """An account's metadata as stored. ``quota`` / ``protected_models`` = ``None`` leaves the pool's copy alone.

    Pass ``project_is_default=True`` when ``project_id`` is the configured fallback project: unrelated accounts
    share it, so its lockouts must not be shared.
    """

    id: str
    email: str
    tier_id: str | None = None
    project_id: str | None = None
    project_is_default: bool = False
    enabled: bool = True
    disabled_reason: str = ""
    proxy_disabled: bool = False
    proxy_disabled_reason: str = ""
    quota: Mapping[str, ModelQuota] | None = None
    quota_fetched_at: float | None = None  # epoch seconds
    quota_forbidden: bool = False
    protected_models: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class PoolSettings:
    max_concurrent_per_account: int = 5
    session_affinity: bool = True
    aimd_max_usage_ratio: float = 1.2
    fixed_account: str = ""  # email; every request goes there when set
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    lockouts: LockoutPolicy = field(default_factory=LockoutPolicy)
    aimd: AimdPolicy = field(default_factory=AimdPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    protection: ProtectionPolicy = field(default_factory=ProtectionPolicy)

    @classmethod
    def from_config(cls, routing: object, quota: object, **overrides: object) -> PoolSettings:
        """From ``config.RoutingConfig`` and ``config.QuotaConfig`` (duck-typed: routing imports no daemon code)."""
        r = routing
        values: dict[str, object] = {
            "max_concurrent_per_account": r.max_concurrent_per_account,  # type: ignore[attr-defined]
            "session_affinity": r.session_affinity,  # type: ignore[attr-defined]
            "aimd_max_usage_ratio": r.aimd_max_usage_ratio,  # type: ignore[attr-defined]
            "fixed_account": r.fixed_account,  # type: ignore[attr-defined]
            "breaker": BreakerPolicy(
                failure_threshold=r.circuit_failure_threshold,  # type: ignore[attr-defined]
                open_seconds=r.circuit_open_seconds,  # type: ignore[attr-defined]
                success_threshold=r.circuit_success_threshold,  # type: ignore[attr-defined]
            ),
            "protection": ProtectionPolicy.from_config(quota),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


class EventKind(enum.StrEnum):
    LOCKOUT = "lockout"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_PROXY_DISABLED = "account_proxy_disabled"
    MODEL_PROTECTED = "model_protected"
    MODEL_UNPROTECTED = "model_unprotected"
    CIRCUIT_OPENED = "circuit_opened"
    CIRCUIT_CLOSED = "circuit_closed"


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """Something the caller writes to the account event log. ``until`` is epoch seconds (lockouts only).

    ``model`` is None for account-wide events; ``project_id`` is set when a lockout was shared by the project.
    ``detail`` may carry an operator URL (verification/appeal); never request content.
    """

    kind: EventKind
    account_id: str
    email: str
    reason: str
    model: str | None = None
    until: float | None = None
    project_id: str | None = None
    detail: str = ""


class Why(enum.StrEnum):
    """Why :meth:`AccountPool.select` found no account. Stable values: they appear in metrics and error bodies."""

    NO_ACCOUNTS = "no_accounts"  # no enabled account at all (or every one was already tried for this request)
    LOCKED = "locked"  # every usable account is locked out or its circuit is open
    AT_CAPACITY = "at_capacity"  # the usable ones are all at their concurrency cap
    QUOTA_PROTECTED = "quota_protected"  # the model is in reserve on every usable account
    UNKNOWN_FORCED_ACCOUNT = "unknown_forced_account"
    FORCED_ACCOUNT_UNAVAILABLE = "forced_account_unavailable"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """No account can take the request now. ``retry_after`` (seconds) is when the earliest lock or reset among
    otherwise usable accounts ends; ``None`` when no timed block explains it (capacity, disabled, unknown)."""

    retry_after: float | None
    reason: Why


class AccountState:
    """One account's metadata and runtime state. Owned by the pool; read-only to everyone else."""

    __slots__ = (
        "aimd",
        "breaker",
        "disabled_reason",
        "email",
        "email_key",
        "enabled",
        "health",
        "health_band",
        "id",
        "in_flight",
        "last_selected",
        "latency_ewma",
        "percents",
        "project_id",
        "project_is_default",
        "proxy_disabled",
        "proxy_disabled_reason",
        "quota",
        "removed",
        "tier",
        "tier_id",
    )

    def __init__(self, snapshot: AccountSnapshot, settings: PoolSettings) -> None:
        self.id = snapshot.id
        self.quota = QuotaBook()
        self.percents: dict[str, int] = {}  # per-model remaining percent, cached for the selection key
        self.in_flight = 0
        self.last_selected = -math.inf  # monotonic; the tie-break of last resort (least recently chosen first)
        self.aimd = Aimd(settings.aimd)
        self.breaker = Breaker(settings.breaker)
        self.health = Health(settings.health)
        self.health_band = 10  # floor(score × 10): differences under 10 % do not override least-connections
        self.latency_ewma: float | None = None
        self.removed = False
        self.apply(snapshot)

    def apply(self, s: AccountSnapshot) -> None:
        """Take the snapshot's metadata; runtime state (in-flight, locks, AIMD, breaker, health) is untouched."""
        self.email = s.email
        self.email_key = s.email.strip().lower()
        self.tier_id = s.tier_id
        self.tier = tier_from_id(s.tier_id)
        self.project_id = s.project_id
        self.project_is_default = s.project_is_default
        self.enabled = s.enabled
        self.disabled_reason = s.disabled_reason
        self.proxy_disabled = s.proxy_disabled
        self.proxy_disabled_reason = s.proxy_disabled_reason
        if s.quota is not None:
            self.quota.models = dict(s.quota)
            self.quota.fetched_at = s.quota_fetched_at
            self.quota.forbidden = s.quota_forbidden
            self.cache_percents()
        if s.protected_models is not None:
            self.quota.protected = set(s.protected_models)

    def cache_percents(self) -> None:
        self.percents = {m: q.percent for m, q in self.quota.models.items()}

    @property
    def usable(self) -> bool:
        return self.enabled and not self.proxy_disabled and not self.removed

    @property
    def project_key(self) -> str | None:
        """The project whose model locks this account shares; None for the shared fallback project."""
        return None if self.project_is_default or not self.project_id else self.project_id

    def update_health_band(self, now: float) -> bool:
        """Recompute the band from the decayed score; True when it changed."""
        band = math.floor(self.health.score(now) * 10 + 1e-9)
        if band == self.health_band:
            return False
        self.health_band = band
        return True
