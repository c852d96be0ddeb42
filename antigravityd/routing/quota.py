"""Quota bookkeeping per account and model: remaining fraction, reset time, protection, refresh and warmup timing.

Times here are **wall-clock epoch seconds** (``wall``): quota resets are calendar instants that Google sends as
RFC 3339 strings, and they must survive a restart.

**Quota protection** keeps a model of an account in reserve once its remaining quota drops to the threshold
(default 10 %), so that the last requests of a nearly exhausted account do not end in 429s mid-conversation. It is
recomputed on every quota update (:meth:`QuotaBook.update`), which reports which models became protected or
unprotected so that the caller can write ``model_protected`` / ``model_unprotected`` events:

* a monitored model at or below the threshold becomes protected;
* any model at 0 % becomes protected, monitored or not (a request there can only fail);
* an upstream ``QUOTA_EXHAUSTED`` protects the model at once (:meth:`QuotaBook.protect`);
* a forbidden quota answer (403) protects every monitored model;
* with ``auto_restore``, a protected model whose quota is above the threshold again is unprotected.

**Refresh timing.** :meth:`QuotaBook.needs_refresh` is true when we have never fetched, or when a reset time of a
not-full model has passed *since* the last fetch. The seed parsed RFC 3339 as "4h 30m" text, read every value as
"already reset" and refetched every account every minute; :func:`parse_reset_time` parses RFC 3339 properly, and
the "since the last fetch" condition stops a stale reset time from triggering a refetch loop.

**Warmup.** A model at 100 % has not started its reset window; one tiny request starts it, so the quota is back
sooner. :class:`WarmupTracker` picks (account, model) pairs at 100 % that were not warmed within the cooldown and
forgets a pair once its model drops below 100 % (so that it is warmed again after the next reset).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ModelQuota",
    "ProtectionChange",
    "ProtectionPolicy",
    "QuotaBook",
    "WarmupTracker",
    "parse_reset_time",
    "quota_from_info",
]


def parse_reset_time(text: object) -> float | None:
    """RFC 3339 (``2026-08-05T02:38:57Z``, with or without fraction or offset) → epoch seconds; else ``None``."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # RFC 3339 always has an offset; a bare time is not one we can place
        return None
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class ModelQuota:
    fraction: float  # remaining, 0.0 … 1.0
    reset_at: float | None = None  # epoch seconds

    @property
    def percent(self) -> int:
        return max(0, min(100, math.floor(self.fraction * 100 + 1e-9)))


def quota_from_info(info: object) -> ModelQuota | None:
    """A ``fetchAvailableModels`` ``quotaInfo`` object → ModelQuota.

    Google omits ``remainingFraction`` when the model is exhausted, so a ``resetTime`` without a fraction is 0 %.
    No ``quotaInfo`` at all means we know nothing (``None``).
    """
    if not isinstance(info, Mapping):
        return None
    reset_at = parse_reset_time(info.get("resetTime"))
    raw = info.get("remainingFraction")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        fraction = min(1.0, max(0.0, float(raw)))
    elif reset_at is not None:
        fraction = 0.0
    else:
        return None
    return ModelQuota(fraction, reset_at)


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    enabled: bool = True
    threshold: int = 10  # percent
    monitored: frozenset[str] = frozenset()
    auto_restore: bool = True

    @classmethod
    def from_config(cls, quota_config: object) -> ProtectionPolicy:
        """Build from ``config.QuotaConfig`` (duck-typed so that this module imports nothing from the daemon)."""
        return cls(
            enabled=quota_config.protection_enabled,  # type: ignore[attr-defined]
            threshold=quota_config.protection_threshold,  # type: ignore[attr-defined]
            monitored=frozenset(quota_config.monitored_models),  # type: ignore[attr-defined]
            auto_restore=quota_config.auto_restore,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True, slots=True)
class ProtectionChange:
    protected: tuple[str, ...] = ()
    unprotected: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.protected or self.unprotected)


@dataclass(slots=True)
class QuotaBook:
    """One account's quota as last fetched, and the models it keeps in reserve."""

    models: dict[str, ModelQuota] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)
    forbidden: bool = False
    fetched_at: float | None = None  # epoch seconds

    def fraction(self, model: str) -> float | None:
        q = self.models.get(model)
        return None if q is None else q.fraction

    def update(
        self, models: Mapping[str, ModelQuota], *, wall: float, policy: ProtectionPolicy, forbidden: bool = False
    ) -> ProtectionChange:
        """Replace the quota with a fresh fetch and recompute protection."""
        self.models = dict(models)
        self.forbidden = forbidden
        self.fetched_at = wall
        if not policy.enabled:
            return ProtectionChange()
        before = set(self.protected)
        if forbidden:
            self.protected |= policy.monitored
        for model, q in self.models.items():
            pct = q.percent
            if pct == 0 or (model in policy.monitored and pct <= policy.threshold):
                self.protected.add(model)
            elif pct > policy.threshold and policy.auto_restore and not forbidden:
                self.protected.discard(model)
        return ProtectionChange(
            protected=tuple(sorted(self.protected - before)),
            unprotected=tuple(sorted(before - self.protected)),
        )

    def protect(self, model: str) -> bool:
        """Protect ``model`` (after QUOTA_EXHAUSTED); True when it was not protected already."""
        if model in self.protected:
            return False
        self.protected.add(model)
        return True

    def unprotect(self, model: str) -> bool:
        if model not in self.protected:
            return False
        self.protected.discard(model)
        return True

    def needs_refresh(self, wall: float) -> bool:
        if self.fetched_at is None:
            return True
        fetched = self.fetched_at
        return any(
            q.reset_at is not None and fetched < q.reset_at <= wall and q.fraction < 1.0 for q in self.models.values()
        )

    def next_refresh_at(self, interval: float, *, slack: float = 5.0) -> float | None:
        """When this account should be fetched next (epoch): the regular interval, or just after the earliest reset
        of a not-full model if that comes first. ``None`` when it was never fetched (fetch now)."""
        if self.fetched_at is None:
            return None
        due = self.fetched_at + interval
        for q in self.models.values():
            if q.reset_at is not None and q.reset_at > self.fetched_at and q.fraction < 1.0:
                due = min(due, q.reset_at + slack)
        return due

    def snapshot(self) -> dict[str, object]:
        return {
            "models": {
                m: {"percent": q.percent, "fraction": q.fraction, "reset_at": q.reset_at}
                for m, q in sorted(self.models.items())
            },
            "protected_models": sorted(self.protected),
            "forbidden": self.forbidden,
            "fetched_at": self.fetched_at,
        }


class WarmupTracker:
    """Which (account, model) pairs were warmed, and when (epoch seconds). The caller may persist ``entries``."""

    __slots__ = ("_warmed",)

    def __init__(self, entries: Mapping[tuple[str, str], float] | None = None) -> None:
        self._warmed: dict[tuple[str, str], float] = dict(entries or {})

    def candidates(
        self,
        books: Iterable[tuple[str, QuotaBook]],
        models: Collection[str],
        *,
        cooldown: float,
        wall: float,
    ) -> list[tuple[str, str]]:
        """(account_id, model) pairs to warm now: a configured model at 100 %, not warmed within ``cooldown``.

        ``books`` should hold only usable accounts (enabled, not proxy-disabled). Model names match exactly,
        ignoring case. Pairs whose model dropped below 100 % are forgotten here, as a side effect.
        """
        wanted = {m.lower() for m in models}
        due: list[tuple[str, str]] = []
        for account_id, book in books:
            for model, q in book.models.items():
                if model.lower() not in wanted:
                    continue
                key = (account_id, model)
                if q.percent < 100:
                    self._warmed.pop(key, None)
                    continue
                last = self._warmed.get(key)
                if last is None or wall - last >= cooldown:
                    due.append(key)
        return due

    def record(self, account_id: str, model: str, wall: float) -> None:
        self._warmed[(account_id, model)] = wall

    def forget_account(self, account_id: str) -> None:
        for key in [k for k in self._warmed if k[0] == account_id]:
            del self._warmed[key]

    def prune(self, wall: float, max_age: float) -> None:
        for key in [k for k, t in self._warmed.items() if wall - t >= max_age]:
            del self._warmed[key]

    def entries(self) -> dict[tuple[str, str], float]:
        return dict(self._warmed)
