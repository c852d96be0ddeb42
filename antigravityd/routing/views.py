"""Read-only, JSON-ready views of the pool for the admin API and metrics. Never a token (the pool holds none).

Monotonic lock times are turned into epoch seconds with the caller's ``wall`` clock, and into ``remaining``
seconds, so that the UI can show both "until 14:05" and "in 3 min".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from antigravityd.routing.pool import AccountPool
    from antigravityd.routing.state import AccountState

__all__ = ["account_view", "aimd_view", "circuit_view", "health_view"]


def account_view(st: AccountState, pool: AccountPool, *, now: float, wall: float, bindings: int) -> dict[str, object]:
    lockouts = [
        {
            "scope": scope,
            "model": model,
            "reason": lock.reason,
            "until": round(wall + (lock.until - now), 3),
            "remaining": round(lock.remaining(now), 3),
        }
        for scope, model, lock in pool.lockouts.active_for(st.id, st.project_key, now)
    ]
    return {
        "id": st.id,
        "email": st.email,
        "tier": st.tier.label,
        "tier_id": st.tier_id,
        "tier_priority": int(st.tier),
        "project_id": st.project_id,
        "project_is_default": st.project_is_default,
        "enabled": st.enabled,
        "disabled_reason": st.disabled_reason,
        "proxy_disabled": st.proxy_disabled,
        "proxy_disabled_reason": st.proxy_disabled_reason,
        "in_flight": st.in_flight,
        "max_in_flight": pool.settings.max_concurrent_per_account,
        "session_bindings": bindings,
        "quota": st.quota.snapshot(),
        "lockouts": lockouts,
        "health": round(st.health.score(now), 4),
        "circuit": st.breaker.state(now).value,
        "aimd": st.aimd.snapshot(now),
        "latency_ewma": None if st.latency_ewma is None else round(st.latency_ewma, 4),
    }


def health_view(st: AccountState, now: float) -> dict[str, object]:
    return {"id": st.id, "email": st.email, **st.health.snapshot(now)}


def circuit_view(st: AccountState, now: float) -> dict[str, object]:
    return {"id": st.id, "email": st.email, **st.breaker.snapshot(now)}


def aimd_view(st: AccountState, now: float, max_ratio: float) -> dict[str, object]:
    view: dict[str, object] = {"id": st.id, "email": st.email, **st.aimd.snapshot(now)}
    view["skipped"] = st.aimd.usage_ratio(now) > max_ratio
    return view
