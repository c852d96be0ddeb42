"""Routing: which account serves a request, and what every outcome teaches the pool.

Pure state machines with an injected clock — no I/O, no clock reads, no logging. ``now`` is monotonic seconds
(``trio.current_time()``); ``wall`` is epoch seconds (``time.time()``) wherever Google's reset timestamps or
event-log times are involved.

Modules: ``pool`` (the :class:`AccountPool` the pipeline talks to), ``selection``/``index`` (eligibility, order,
the indexed selector), ``lease``, ``lockouts``, ``aimd``, ``breaker``, ``health``, ``sessions``, ``quota``
(protection, refresh timing, warmup), ``retry`` (the one retry policy), ``tiers``, ``state`` (snapshots,
settings, events), ``views`` (admin API views).
"""

from antigravityd.routing.lease import Lease
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota, ProtectionPolicy, QuotaBook, WarmupTracker, parse_reset_time
from antigravityd.routing.retry import Action, Decision, RetryPolicy, RetryState, WaitPlan, plan_unavailable
from antigravityd.routing.state import AccountSnapshot, EventKind, PoolEvent, PoolSettings, Unavailable, Why
from antigravityd.routing.tiers import Tier, tier_from_id

__all__ = [
    "AccountPool",
    "AccountSnapshot",
    "Action",
    "Decision",
    "EventKind",
    "Lease",
    "ModelQuota",
    "PoolEvent",
    "PoolSettings",
    "ProtectionPolicy",
    "QuotaBook",
    "RetryPolicy",
    "RetryState",
    "Tier",
    "Unavailable",
    "WaitPlan",
    "WarmupTracker",
    "Why",
    "parse_reset_time",
    "plan_unavailable",
    "tier_from_id",
]
