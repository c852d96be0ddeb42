"""Which accounts may take a request for a model, and in which order — the rules, and a reference selector.

**Eligibility** (hard; :meth:`Rules.blocked`): the account is enabled and not proxy-disabled; the model is not
quota-protected on it (when protection is on); no lock covers the account, the (account, model) pair or its
(project, model) pair; its circuit lets a request through (half-open: only while no probe is out); it is below its
concurrency cap. **AIMD** is a soft filter: an account whose learned rate is above ``aimd_max_usage_ratio`` is
skipped while any other account is eligible, and used when it is the only one left — the learned ceiling is an
estimate, and refusing service on an estimate alone would turn a guess into an outage (the seed skipped the
check in its recovery path for the same reason).

**Order** (:func:`order_key`): tier priority, then the remaining quota **for the requested model** (whole
percent, more first — the seed used the account's best model, which put an account with 100 % Gemini and 0 %
Claude first for Claude requests), then the health band (score in tenths; smaller differences do not override
the next key), then in-flight requests (least connections). Ties go to the least recently chosen account.
:class:`ScanSelector` is the plain O(n) selector: used for small pools, and the reference the indexed
selector (``index.py``) is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from antigravityd.routing.breaker import CircuitState
from antigravityd.routing.lockouts import Lockouts
from antigravityd.routing.state import AccountState, PoolSettings

__all__ = ["NEVER", "PROBE_WAIT", "Rules", "ScanSelector", "order_key"]

NEVER = math.inf  # "not by waiting": the block ends on an event (quota update, admin action), not at a time
PROBE_WAIT = 1.0  # a half-open probe is out: ask again in about a second (the seed's value)

OrderKey = tuple[int, int, int, int]


def order_key(st: AccountState, model: str) -> OrderKey:
    return (st.tier, -st.percents.get(model, 0), -st.health_band, st.in_flight)


class Rules:
    """The eligibility predicate, shared by every selector."""

    __slots__ = ("lockouts", "settings")

    def __init__(self, settings: PoolSettings, lockouts: Lockouts) -> None:
        self.settings = settings
        self.lockouts = lockouts

    def blocked(self, st: AccountState, model: str, now: float) -> float:
        """0.0 when ``st`` may take a request for ``model`` (capacity and AIMD aside); otherwise the monotonic
        time at which the block ends, or NEVER when waiting alone will not end it."""
        if not st.enabled or st.proxy_disabled or st.removed:
            return NEVER
        if st.quota.protected and model in st.quota.protected and self.settings.protection.enabled:
            return NEVER
        until = self.lockouts.blocked_until(st.id, st.project_key, model, now)
        if until > now:
            return until
        breaker = st.breaker
        if breaker._state is not CircuitState.CLOSED and not breaker.allows(now):  # (closed: skip the calls)
            reopens = breaker.reopens_at(now)
            return reopens if reopens is not None else now + PROBE_WAIT
        return 0.0

    def aimd_over(self, st: AccountState, now: float) -> bool:
        ratio = self.settings.aimd_max_usage_ratio
        return not st.aimd.surely_within(ratio) and st.aimd.usage_ratio(now) > ratio

    def has_room(self, st: AccountState) -> bool:
        return st.in_flight < self.settings.max_concurrent_per_account


class ScanSelector:
    """Look at every account: O(n) per request. Fastest for a handful of accounts; the reference the indexed
    selector must agree with."""

    def __init__(self, accounts: Mapping[str, AccountState], rules: Rules) -> None:
        self._accounts = accounts
        self._rules = rules

    def best(self, model: str, exclude: Collection[str], now: float) -> AccountState | None:
        rules = self._rules
        best: AccountState | None = None
        best_key: tuple[OrderKey, float] | None = None
        fallback: AccountState | None = None
        fallback_key: tuple[OrderKey, float] | None = None
        for st in self._accounts.values():
            if st.id in exclude or not rules.has_room(st) or rules.blocked(st, model, now):
                continue
            key = (order_key(st, model), st.last_selected)
            if rules.aimd_over(st, now):
                if fallback_key is None or key < fallback_key:
                    fallback, fallback_key = st, key
            elif best_key is None or key < best_key:
                best, best_key = st, key
        return best if best is not None else fallback

    def refresh(self, st: AccountState, *, recheck: bool = True) -> None:
        """Nothing to maintain."""

    def forget(self, account_id: str) -> None:
        """Nothing to maintain."""

    def reset(self) -> None:
        """Nothing to maintain."""
