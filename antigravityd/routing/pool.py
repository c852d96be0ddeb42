"""The account pool: which account serves the next request, and what each outcome teaches us.

Pure and synchronous: no I/O, no clock reads, no locks. Trio runs one task at a time, so ``select`` — choose and
take the slot in one call — is atomic by construction. Every method that needs time takes ``now`` (monotonic
seconds, e.g. ``trio.current_time()``); the ones that deal with Google's reset timestamps or write events also
take ``wall`` (epoch seconds, ``time.time()``).

Flow for one request (the pipeline)::

    got = pool.select(model, session_id=sid, exclude=tried, now=now)
    if isinstance(got, Unavailable): wait if got.retry_after <= 2 s, else 429 + Retry-After
    with got as lease:
        ... call upstream ...
        pool.record_success(lease, now=..., latency=...)      # or
        events = pool.record_failure(lease, failure, now=..., wall=...)   # write events to the event log

Selection rules are in ``selection.py``, the lockout table in ``lockouts.py``, the retry table in ``retry.py``.
Sticky sessions: a session's bound account is used while it is eligible, unless an ultra-tier account is free
and the bound one is not ultra (ultra capacity beats cache affinity). A request that had to go elsewhere because
the bound account was excluded (it just failed for this request), briefly locked or full does not move the
binding; a long lock (> 5 min), protection, disabling or three failures drop it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Literal

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.breaker import CircuitState
from antigravityd.routing.index import SMALL_POOL, IndexedSelector
from antigravityd.routing.lease import Lease
from antigravityd.routing.lockouts import Lockouts
from antigravityd.routing.quota import ModelQuota, QuotaBook
from antigravityd.routing.selection import NEVER, Rules, ScanSelector
from antigravityd.routing.sessions import SessionBindings
from antigravityd.routing.state import (
    AccountSnapshot,
    AccountState,
    EventKind,
    PoolEvent,
    PoolSettings,
    Unavailable,
    Why,
)
from antigravityd.routing.tiers import tier_from_id
from antigravityd.routing.views import account_view, aimd_view, circuit_view, health_view

__all__ = ["AIMD_DECREASE_KINDS", "BREAKER_KINDS", "NEUTRAL_KINDS", "AccountPool"]

K = FailureKind

# Failures that say the account (or its path to Google) is sick: they count towards opening its circuit.
BREAKER_KINDS = frozenset({K.SERVER_ERROR, K.TRANSPORT, K.TIMEOUT, K.EMPTY_RESPONSE, K.TRUNCATED})
# Failures that say nothing about the account: the client's request, or a model out of capacity everywhere.
NEUTRAL_KINDS = frozenset({K.BAD_REQUEST, K.PROMPT_TOO_LONG, K.SIGNATURE_INVALID, K.CAPACITY, K.UNAUTHENTICATED})
# 429s about the request *rate* shrink the learned ceiling; QUOTA_EXHAUSTED is a long window, not a rate.
AIMD_DECREASE_KINDS = frozenset({K.RATE_LIMITED, K.RESOURCE_EXHAUSTED})

_HEALTH_BAND_REFRESH = 30.0  # seconds between re-banding every account's decayed health score
_REASON_LIMIT = 800


class AccountPool:
    def __init__(
        self,
        settings: PoolSettings | None = None,
        *,
        selector: Literal["auto", "index", "scan"] = "auto",
        on_release: Callable[[], None] | None = None,
    ) -> None:
        """``selector``: "auto" scans pools of up to 16 accounts and indexes larger ones; "index" and "scan" force
        one (tests, benchmarks). ``on_release`` is called whenever a slot comes back (the pipeline can wake
        requests waiting for capacity)."""
        self.settings = settings or PoolSettings()
        self._accounts: dict[str, AccountState] = {}
        self._by_email: dict[str, AccountState] = {}
        self.lockouts = Lockouts(self.settings.lockouts)
        self.sessions = SessionBindings(self.settings.sessions)
        self._rules = Rules(self.settings, self.lockouts)
        self._selector: IndexedSelector | ScanSelector = (
            ScanSelector(self._accounts, self._rules) if selector == "scan"
            else IndexedSelector(self._accounts, self._rules, small_pool=SMALL_POOL if selector == "auto" else 0)
        )
        self._on_release = on_release
        self._bands_refreshed_at = -_HEALTH_BAND_REFRESH

    # ------------------------------------------------------------------ membership

    def upsert(self, snapshot: AccountSnapshot) -> None:
        """Add an account or apply new metadata at once; in-flight count, locks, AIMD, breaker, health survive."""
        st = self._accounts.get(snapshot.id)
        if st is None:
            st = AccountState(snapshot, self.settings)
            self._accounts[st.id] = st
        else:
            if st.email_key != snapshot.email.strip().lower():
                self._by_email.pop(st.email_key, None)
            st.apply(snapshot)
        self._by_email[st.email_key] = st
        if not st.usable:
            self.sessions.unbind_account(st.id)
        self._selector.refresh(st)

    def remove(self, account_id: str) -> None:
        st = self._accounts.pop(account_id, None)
        if st is None:
            return
        st.removed = True
        if self._by_email.get(st.email_key) is st:
            del self._by_email[st.email_key]
        self.sessions.unbind_account(account_id)
        self.lockouts.clear(account_id)
        self._selector.forget(account_id)

    def reconfigure(self, settings: PoolSettings) -> None:
        """Apply new routing settings (e.g. edited at runtime). Learned state is kept."""
        self.settings = settings
        self.lockouts.policy = settings.lockouts
        self.sessions.policy = settings.sessions
        self._rules.settings = settings
        for st in self._accounts.values():
            st.breaker.policy = settings.breaker
            st.aimd.policy = settings.aimd
            st.aimd._set_limit(min(max(st.aimd.limit, settings.aimd.min_limit), settings.aimd.max_limit))
            st.health.policy = settings.health
        self._selector.reset()

    def __len__(self) -> int:
        return len(self._accounts)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def get(self, account_id: str) -> AccountState | None:
        return self._accounts.get(account_id)

    def by_email(self, email: str) -> AccountState | None:
        return self._by_email.get(email.strip().lower())

    # ------------------------------------------------------------------ selection

    def select(
        self,
        model: str,
        *,
        session_id: str | None = None,
        exclude: Collection[str] = (),
        now: float,
        force_email: str | None = None,
    ) -> Lease | Unavailable:
        """Choose an account for one request to ``model`` and take its concurrency slot."""
        self._maybe_reband(now)
        forced = force_email or self.settings.fixed_account
        if forced:
            return self._select_forced(forced, model, exclude, now)
        best = self._selector.best(model, exclude, now)
        chosen = best
        rebind = False
        sid = session_id if self.settings.session_affinity else None
        if sid is not None:
            bound_id = self.sessions.get(sid)
            verdict = "unbind" if bound_id is None else self._bound_verdict(bound_id, model, exclude, now)
            if verdict == "use":
                bound = self._accounts[bound_id]  # type: ignore[index]
                if best is not None and best.tier.is_ultra and not bound.tier.is_ultra:
                    rebind = True  # a free ultra account overrides a non-ultra binding, and takes it over
                else:
                    chosen = bound
            elif verdict == "unbind":
                if bound_id is not None:
                    self.sessions.unbind(sid)
                rebind = True
        if chosen is None:
            return self._unavailable(model, exclude, now)
        if rebind and sid is not None:
            self.sessions.bind(sid, chosen.id)
        return self._acquire(chosen, model, session_id, now=now)

    def _bound_verdict(self, account_id: str, model: str, exclude: Collection[str], now: float) -> str:
        """"use" the binding, "skip" it for this request only, or "unbind" it."""
        st = self._accounts.get(account_id)
        if st is None:
            return "unbind"
        blocked = self._rules.blocked(st, model, now)
        if blocked == NEVER or blocked - now > self.settings.sessions.long_lock:
            return "unbind"
        if account_id in exclude or blocked or not self._rules.has_room(st) or self._rules.aimd_over(st, now):
            return "skip"
        return "use"

    def _select_forced(self, email: str, model: str, exclude: Collection[str], now: float) -> Lease | Unavailable:
        """X-Force-Account / fixed-account mode: bypass order, stickiness, AIMD and quota protection — but never a
        lock, an open circuit or the concurrency cap (hammering a throttled account only prolongs the throttle)."""
        st = self.by_email(email)
        if st is None:
            return Unavailable(None, Why.UNKNOWN_FORCED_ACCOUNT)
        if st.id in exclude or not st.usable or not self._rules.has_room(st):
            return Unavailable(None, Why.FORCED_ACCOUNT_UNAVAILABLE)
        until = self.lockouts.blocked_until(st.id, st.project_key, model, now)
        if until <= now and st.breaker.allows(now):
            return self._acquire(st, model, None, now=now)
        reopens = st.breaker.reopens_at(now)
        until = max(until, reopens if reopens is not None else now)
        return Unavailable(max(0.0, until - now) if until > now else None, Why.FORCED_ACCOUNT_UNAVAILABLE)

    def _acquire(self, st: AccountState, model: str, session_id: str | None, *, now: float) -> Lease:
        probe = st.breaker.acquire(now)
        st.in_flight += 1
        st.last_selected = now
        st.aimd.record_request(now)
        self._selector.refresh(st, recheck=False)
        return Lease(self, st, model, session_id=session_id, probe=probe, now=now)

    def _release(self, lease: Lease) -> None:
        st = lease._state
        st.in_flight -= 1
        if lease.probe:
            lease.probe = False
            st.breaker.release_probe()
        if not st.removed:
            self._selector.refresh(st, recheck=False)
        if self._on_release is not None:
            self._on_release()

    def _unavailable(self, model: str, exclude: Collection[str], now: float) -> Unavailable:
        """Why nothing was eligible, and the earliest time something will be (slow path: looks at every account)."""
        earliest = NEVER
        usable = at_capacity = protected = False
        for st in self._accounts.values():
            if st.id in exclude or not st.usable:
                continue
            usable = True
            blocked = self._rules.blocked(st, model, now)
            if blocked == NEVER:  # usable, so the model is protected on it …
                protected = True
                blocked = self.lockouts.blocked_until(st.id, st.project_key, model, now)
                if blocked <= now:
                    continue  # … until the next quota update: no time to promise
                # … and still locked until Google's own reset: that time is worth telling the client.
            if blocked:
                earliest = min(earliest, blocked)
            elif not self._rules.has_room(st):
                at_capacity = True
        retry_after = None if earliest == NEVER else max(0.0, earliest - now)
        if not usable:
            return Unavailable(None, Why.NO_ACCOUNTS)
        if at_capacity:
            return Unavailable(retry_after, Why.AT_CAPACITY)
        if retry_after is not None:
            return Unavailable(retry_after, Why.LOCKED)
        return Unavailable(None, Why.QUOTA_PROTECTED if protected else Why.LOCKED)

    def _maybe_reband(self, now: float) -> None:
        """Health scores decay with time; re-band them now and then so that a recovered account moves up."""
        if now - self._bands_refreshed_at < _HEALTH_BAND_REFRESH:
            return
        self._bands_refreshed_at = now
        for st in self._accounts.values():
            if st.update_health_band(now):
                self._selector.refresh(st)
        self.lockouts.prune(now)

    # ------------------------------------------------------------------ outcomes

    def record_success(self, lease: Lease, *, now: float, latency: float | None = None) -> list[PoolEvent]:
        """The upstream call on ``lease`` succeeded (call it once the response is known good)."""
        st = lease._state
        if st.removed:
            return []  # the account was deleted while this request ran; its id may already name a new one
        events: list[PoolEvent] = []
        changed = st.aimd.record_success(now) or lease.probe  # a reward, or a probe slot to give back
        if st.breaker.record_success(now, probe=lease.probe) is CircuitState.CLOSED:
            events.append(PoolEvent(EventKind.CIRCUIT_CLOSED, st.id, st.email, "probe_succeeded"))
        lease.probe = False
        st.health.record_success(now)
        changed = st.update_health_band(now) or changed
        changed = self.lockouts.on_success(st.id, lease.model) or changed
        if lease.session_id is not None:
            self.sessions.record_success(lease.session_id, st.id)
        if latency is not None:
            st.latency_ewma = latency if st.latency_ewma is None else 0.8 * st.latency_ewma + 0.2 * latency
        if changed:
            self._selector.refresh(st)
        return events

    def record_failure(self, lease: Lease, failure: Failure, *, now: float, wall: float) -> list[PoolEvent]:
        """The upstream call on ``lease`` failed: lock, learn, and return the events to write."""
        if lease._state.removed:
            return []  # the account was deleted while this request ran; its id may already name a new one
        events = self._apply_failure(lease._state, lease.model, failure, now=now, wall=wall,
                                     session_id=lease.session_id, probe=lease.probe)
        lease.probe = False
        return events

    def report_failure(
        self, account_id: str, failure: Failure, *, model: str | None = None, now: float, wall: float
    ) -> list[PoolEvent]:
        """A failure outside a lease (token refresh → INVALID_GRANT, quota fetch → 403 …)."""
        st = self._accounts.get(account_id)
        if st is None:
            return []
        return self._apply_failure(st, model, failure, now=now, wall=wall, session_id=None, probe=False)

    def _apply_failure(
        self,
        st: AccountState,
        model: str | None,
        failure: Failure,
        *,
        now: float,
        wall: float,
        session_id: str | None,
        probe: bool,
    ) -> list[PoolEvent]:
        events: list[PoolEvent] = []
        kind = failure.kind
        decision, lock = self.lockouts.apply(st.id, st.project_key, model, failure, now=now, wall=wall)
        if lock is not None:
            account_wide = decision.scope == "account" or model is None
            events.append(PoolEvent(
                EventKind.LOCKOUT, st.id, st.email, lock.reason, model=None if account_wide else model,
                until=wall + (lock.until - now),
                project_id=st.project_key if decision.project_wide and not account_wide else None,
            ))
        protect = decision.protect_model and model is not None and self.settings.protection.enabled
        if protect and st.quota.protect(model):  # type: ignore[arg-type]
            events.append(PoolEvent(EventKind.MODEL_PROTECTED, st.id, st.email, kind.value, model=model))
        if decision.disable and st.enabled:
            st.enabled = False
            st.disabled_reason = _reason(kind, failure.message)
            events.append(PoolEvent(EventKind.ACCOUNT_DISABLED, st.id, st.email, st.disabled_reason))
        if decision.proxy_disable and not st.proxy_disabled:
            st.proxy_disabled = True
            st.proxy_disabled_reason = _reason(kind, failure.message)
            events.append(PoolEvent(EventKind.ACCOUNT_PROXY_DISABLED, st.id, st.email, st.proxy_disabled_reason,
                                    detail=failure.detail_url or ""))
        if not st.usable:
            self.sessions.unbind_account(st.id)

        if kind in AIMD_DECREASE_KINDS:
            st.aimd.record_rate_limited(now)
        elif kind not in NEUTRAL_KINDS:
            st.aimd.record_error()
        if kind in BREAKER_KINDS:
            if st.breaker.record_failure(now, probe=probe) is CircuitState.OPEN:
                events.append(PoolEvent(EventKind.CIRCUIT_OPENED, st.id, st.email, kind.value))
        elif probe:
            st.breaker.release_probe()  # no verdict: let the next request probe
        if kind not in NEUTRAL_KINDS:
            st.health.record_failure(now)
            st.update_health_band(now)
            if session_id is not None:
                self.sessions.record_failure(session_id, st.id)
        self._selector.refresh(st)
        return events

    # ------------------------------------------------------------------ quota

    def update_quota(
        self, account_id: str, models: Mapping[str, ModelQuota], *, wall: float, forbidden: bool = False
    ) -> list[PoolEvent]:
        """A fresh quota fetch: store it, recompute protection, return model_protected/unprotected events."""
        st = self._accounts.get(account_id)
        if st is None:
            return []
        change = st.quota.update(models, wall=wall, policy=self.settings.protection, forbidden=forbidden)
        st.cache_percents()
        self._selector.refresh(st)
        return [
            *(PoolEvent(EventKind.MODEL_PROTECTED, st.id, st.email, "quota_threshold", model=m)
              for m in change.protected),
            *(PoolEvent(EventKind.MODEL_UNPROTECTED, st.id, st.email, "quota_restored", model=m)
              for m in change.unprotected),
        ]

    def set_tier(self, account_id: str, tier_id: str | None) -> None:
        st = self._accounts.get(account_id)
        if st is not None:
            st.tier_id, st.tier = tier_id, tier_from_id(tier_id)
            self._selector.refresh(st)

    def quota_books(self, *, usable_only: bool = True) -> Iterator[tuple[str, QuotaBook]]:
        """(account id, quota) for the quota scheduler and warmup (usable accounts only by default)."""
        for st in self._accounts.values():
            if st.usable or not usable_only:
                yield st.id, st.quota

    # ------------------------------------------------------------------ admin

    def clear_lockouts(self, account_id: str | None = None) -> None:
        """``DELETE /api/proxy/rate-limits[/{id}]``: lift locks (an account's also lifts its project's)."""
        if account_id is None:
            self.lockouts.clear()
            targets = list(self._accounts.values())
        else:
            st = self._accounts.get(account_id)
            if st is None:
                return
            self.lockouts.clear(account_id, st.project_key)
            targets = [s for s in self._accounts.values() if s is st or (st.project_key and
                                                                        s.project_key == st.project_key)]
        for st in targets:
            self._selector.refresh(st)

    def clear_bindings(self) -> int:
        """``POST /api/proxy/clear-bindings``; returns how many bindings were dropped."""
        return self.sessions.clear()

    def accounts_view(self, *, now: float, wall: float) -> list[dict[str, object]]:
        """``GET /api/accounts`` routing fields (no tokens: the pool never sees one)."""
        bindings = self.sessions.counts_by_account()
        return [account_view(st, self, now=now, wall=wall, bindings=bindings.get(st.id, 0))
                for st in self._accounts.values()]

    def health_view(self, *, now: float) -> list[dict[str, object]]:
        return [health_view(st, now) for st in self._accounts.values()]

    def circuits_view(self, *, now: float) -> list[dict[str, object]]:
        return [circuit_view(st, now) for st in self._accounts.values()]

    def aimd_view(self, *, now: float) -> list[dict[str, object]]:
        return [aimd_view(st, now, self.settings.aimd_max_usage_ratio) for st in self._accounts.values()]

    def in_flight(self) -> dict[str, int]:
        return {st.id: st.in_flight for st in self._accounts.values()}


def _reason(kind: FailureKind, message: str) -> str:
    text = f"{kind.value}: {message}" if message else kind.value
    return text[:_REASON_LIMIT]
