"""Lockouts: how long an account, an (account, model) pair or a (project, model) pair sits out after a failure.

Times here are **monotonic seconds** (``now``). Absolute reset timestamps from Google (``Failure.reset_at``,
epoch seconds) are converted by the caller's ``wall`` clock at the moment the failure is applied.

The policy, one row per failure class (see :func:`decide`)::

    kind                   scope                       duration
    ---------------------  --------------------------  ---------------------------------------------------------
    RATE_LIMITED           (account, model) + project  exact reset if given, else the adaptive ladder 5/15/30/60 s
    RESOURCE_EXHAUSTED     (account, model) + project  exact reset if given, else the adaptive ladder
    QUOTA_EXHAUSTED        (account, model) + project  exact reset if given, else 10 min; the model is protected
    CAPACITY               none                        the model is out of capacity server-wide, not our fault
    SERVER_ERROR           (account, model)            10 s
    FORBIDDEN              (account, model)            30 s
    NOT_FOUND              (account, model)            15 s (model not offered to this tier or host right now)
    VERIFICATION_REQUIRED  account                     1 h, and the account is proxy-disabled with the reason
    TOS_BANNED             account                     24 h, and the account is proxy-disabled with the reason
    INVALID_GRANT          none                        the account is disabled (needs re-authorisation)
    everything else        none                        (401 is refreshed; transport/timeouts feed the breaker)

Exact resets come from ``retry_after`` (relative, preferred: immune to clock skew) or ``reset_at``, clamped to
[1 s, 8 days] — Google has been seen to send a 6.7-day ``RetryInfo``.

**Project-wide locks.** Google enforces quota per *project*, so when an account behind project P is throttled on
model M, every account behind P would be throttled too; the three quota classes therefore also lock (P, M). The
configured fallback project is shared by unrelated accounts whose quota is really per user, so callers pass
``project_id=None`` for it and it is never locked.

**Adaptive ladder.** Consecutive quota-class failures on one (account, model) without an exact reset lock for
5, 15, 30, then 60 s. The streak is forgotten after an hour without failures, or on a success for that pair.

The seed also placed a 15 s "immediate" model lock before computing the real one; that was a placeholder while its
asynchronous quota fetch ran. Our decision is synchronous and complete, so the real lock is applied directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from antigravityd.outcomes import Failure, FailureKind

__all__ = ["Lock", "LockDecision", "LockoutPolicy", "Lockouts", "Scope", "decide"]

K = FailureKind
_Key = TypeVar("_Key")
_QUOTA_CLASSES = frozenset({K.RATE_LIMITED, K.RESOURCE_EXHAUSTED, K.QUOTA_EXHAUSTED})


class Scope:
    """What a lock applies to. Plain strings so that they read well in events and the admin API."""

    NONE = "none"
    ACCOUNT = "account"
    MODEL = "model"
    PROJECT = "project"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    ladder: tuple[float, ...] = (5.0, 15.0, 30.0, 60.0)
    ladder_memory: float = 3600.0  # a streak older than this is forgotten
    quota_fallback: float = 600.0
    server_error: float = 10.0
    forbidden: float = 30.0
    not_found: float = 15.0
    verification: float = 3600.0
    tos_banned: float = 86400.0
    min_exact: float = 1.0
    max_exact: float = 8 * 86400.0


@dataclass(frozen=True, slots=True)
class LockDecision:
    """What one failure does to the account. ``duration`` is seconds from now (0 when ``scope`` is NONE)."""

    scope: str = Scope.NONE
    duration: float = 0.0
    project_wide: bool = False
    protect_model: bool = False
    disable: bool = False
    proxy_disable: bool = False
    exact: bool = False  # the duration came from the upstream's own reset, not from our defaults


def exact_delay(failure: Failure, wall: float, policy: LockoutPolicy) -> float | None:
    """The upstream's own wait, in seconds from now, clamped; ``None`` when it gave none."""
    if failure.retry_after is not None and failure.retry_after >= 0:
        delay = failure.retry_after
    elif failure.reset_at is not None:
        delay = failure.reset_at - wall
    else:
        return None
    return min(max(delay, policy.min_exact), policy.max_exact)


def decide(failure: Failure, *, streak: int, wall: float, policy: LockoutPolicy) -> LockDecision:
    """The lockout for ``failure``. ``streak`` counts consecutive quota-class failures including this one (≥ 1)."""
    kind = failure.kind
    if kind in _QUOTA_CLASSES:
        exact = exact_delay(failure, wall, policy)
        if exact is not None:
            duration = exact
        elif kind is K.QUOTA_EXHAUSTED:
            duration = policy.quota_fallback
        else:
            duration = policy.ladder[min(max(streak, 1), len(policy.ladder)) - 1]
        return LockDecision(Scope.MODEL, duration, project_wide=True,
                            protect_model=kind is K.QUOTA_EXHAUSTED, exact=exact is not None)
    if kind is K.SERVER_ERROR:
        return LockDecision(Scope.MODEL, policy.server_error)
    if kind is K.FORBIDDEN:
        return LockDecision(Scope.MODEL, policy.forbidden)
    if kind is K.NOT_FOUND:
        return LockDecision(Scope.MODEL, policy.not_found)
    if kind is K.VERIFICATION_REQUIRED:
        return LockDecision(Scope.ACCOUNT, policy.verification, proxy_disable=True)
    if kind is K.TOS_BANNED:
        return LockDecision(Scope.ACCOUNT, policy.tos_banned, proxy_disable=True)
    if kind is K.INVALID_GRANT:
        return LockDecision(disable=True)
    return LockDecision()


@dataclass(frozen=True, slots=True)
class Lock:
    """An active lockout. ``until`` and ``since`` are monotonic; ``reason`` is a FailureKind value or "manual"."""

    until: float
    reason: str
    since: float

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


@dataclass(slots=True)
class _Streak:
    count: int
    last: float


@dataclass(slots=True)
class Lockouts:
    """Every active lock, keyed by account, (account, model) and (project, model)."""

    policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    account: dict[str, Lock] = field(default_factory=dict)
    model: dict[tuple[str, str], Lock] = field(default_factory=dict)
    project: dict[tuple[str, str], Lock] = field(default_factory=dict)
    _streaks: dict[tuple[str, str], _Streak] = field(default_factory=dict)

    # ------------------------------------------------------------------ writing

    def apply(
        self, account_id: str, project_id: str | None, model: str | None, failure: Failure, *, now: float, wall: float
    ) -> tuple[LockDecision, Lock | None]:
        """Record ``failure`` and return the decision with the lock it placed (``None`` if it placed none).

        A lock never shortens an existing one: a 2 s rate limit does not cut a 10-minute quota lock short.
        """
        streak = 0
        if failure.kind in _QUOTA_CLASSES and model is not None:
            streak = self._bump_streak((account_id, model), now)
        decision = decide(failure, streak=streak, wall=wall, policy=self.policy)
        if decision.scope == Scope.NONE or decision.duration <= 0:
            return decision, None
        lock = Lock(until=now + decision.duration, reason=failure.kind.value, since=now)
        if decision.scope == Scope.ACCOUNT or model is None:
            lock = _extend(self.account, account_id, lock)
        else:
            lock = _extend(self.model, (account_id, model), lock)
            if decision.project_wide and project_id:
                _extend(self.project, (project_id, model), lock)
        return decision, lock

    def lock_account(self, account_id: str, until: float, reason: str, *, now: float) -> Lock:
        return _extend(self.account, account_id, Lock(until, reason, now))

    def on_success(self, account_id: str, model: str | None) -> bool:
        """A success lifts the account-level lock and resets the ladder for this pair; model locks run out alone.
        Returns True when an account-level lock was lifted."""
        if model is not None and self._streaks:
            self._streaks.pop((account_id, model), None)
        return self.account.pop(account_id, None) is not None

    def clear(self, account_id: str | None = None, project_id: str | None = None) -> None:
        """Forget locks: all of them, or one account's (and its project's, which would still block it)."""
        if account_id is None:
            self.account.clear()
            self.model.clear()
            self.project.clear()
            self._streaks.clear()
            return
        self.account.pop(account_id, None)
        for table in (self.model, self._streaks):
            for key in [k for k in table if k[0] == account_id]:
                del table[key]
        if project_id:
            for key in [k for k in self.project if k[0] == project_id]:
                del self.project[key]

    def prune(self, now: float) -> None:
        """Drop expired locks and stale streaks so that the tables stay as small as the live set."""
        for table in (self.account, self.model, self.project):
            for key in [k for k, lock in table.items() if lock.until <= now]:
                del table[key]
        memory = self.policy.ladder_memory
        for key in [k for k, s in self._streaks.items() if now - s.last >= memory]:
            del self._streaks[key]

    # ------------------------------------------------------------------ reading

    def blocked_until(self, account_id: str, project_id: str | None, model: str | None, now: float) -> float:
        """The monotonic time at which every lock on this (account, model) has run out; ``<= now`` = not blocked."""
        until = 0.0
        if self.account:
            lock = self.account.get(account_id)
            if lock is not None:
                until = lock.until
        if model is not None:
            if self.model:
                lock = self.model.get((account_id, model))
                if lock is not None and lock.until > until:
                    until = lock.until
            if project_id and self.project:
                lock = self.project.get((project_id, model))
                if lock is not None and lock.until > until:
                    until = lock.until
        return until

    def active_for(self, account_id: str, project_id: str | None, now: float) -> Iterator[tuple[str, str | None, Lock]]:
        """(scope, model, lock) for every unexpired lock that affects this account; scope is "account", "model"
        or "project" (a lock shared through the project), model is None for account locks."""
        lock = self.account.get(account_id)
        if lock is not None and lock.until > now:
            yield Scope.ACCOUNT, None, lock
        for (acc, model), lock in self.model.items():
            if acc == account_id and lock.until > now:
                yield Scope.MODEL, model, lock
        if project_id:
            for (proj, model), lock in self.project.items():
                if proj == project_id and lock.until > now:
                    yield Scope.PROJECT, model, lock

    def streak(self, account_id: str, model: str) -> int:
        s = self._streaks.get((account_id, model))
        return 0 if s is None else s.count

    # ------------------------------------------------------------------ internals

    def _bump_streak(self, key: tuple[str, str], now: float) -> int:
        s = self._streaks.get(key)
        if s is None or now - s.last >= self.policy.ladder_memory:
            s = self._streaks[key] = _Streak(0, now)
        s.count += 1
        s.last = now
        return s.count


def _extend(table: dict[_Key, Lock], key: _Key, lock: Lock) -> Lock:
    """Store ``lock`` unless a longer one is already there; return the lock now in force."""
    current = table.get(key)
    if current is not None and current.until >= lock.until:
        return current
    table[key] = lock
    return lock
