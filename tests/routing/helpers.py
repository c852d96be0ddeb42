"""Small builders for pool tests."""

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.lease import Lease
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota
from antigravityd.routing.state import AccountSnapshot, PoolSettings, Unavailable

WALL0 = 1_800_000_000.0
TIER_IDS = {
    "ultra-business": "ws-ai-ultra-business-tier",
    "ultra": "g1-ultra-tier",
    "pro": "g1-pro-tier",
    "free": "free-tier",
    "unknown": None,
}


def snap(account_id, tier="pro", *, project=None, quota=None, **kw):
    return AccountSnapshot(
        id=account_id,
        email=f"{account_id}@example.com",
        tier_id=TIER_IDS[tier],
        project_id=project,
        quota=None if quota is None else {m: ModelQuota(f) for m, f in quota.items()},
        **kw,
    )


def pool_of(*snapshots, indexed=True, **settings):
    pool = AccountPool(PoolSettings(**settings), selector="index" if indexed else "scan")
    for s in snapshots:
        pool.upsert(s)
    return pool


def fail(kind, **kw):
    return Failure(kind=FailureKind(kind), **kw)


def take(pool, model="m", **kw):
    """select() that must succeed; returns the lease."""
    kw.setdefault("now", 0.0)
    got = pool.select(model, **kw)
    assert isinstance(got, Lease), got
    return got


def pick(pool, model="m", **kw):
    """The account id select() would choose right now (the slot is given back at once)."""
    kw.setdefault("now", 0.0)
    got = pool.select(model, **kw)
    if isinstance(got, Unavailable):
        return got
    got.release()
    return got.account_id
