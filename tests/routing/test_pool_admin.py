"""Admin views, release notifications and the edges of lease lifetime."""

import json

from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota
from antigravityd.routing.state import PoolSettings

from .helpers import WALL0, fail, pick, pool_of, snap, take


def test_outcomes_of_a_lease_on_a_deleted_account_do_not_touch_its_successor():
    pool = pool_of(snap("a"), snap("b"))
    old = take(pool, exclude=["b"])
    pool.remove("a")
    pool.upsert(snap("a", "ultra"))
    assert pool.record_failure(old, fail("tos_banned"), now=0.0, wall=WALL0) == []
    assert pool.record_success(old, now=0.0) == []
    old.release()
    assert pick(pool) == "a" and not pool.get("a").proxy_disabled and pool.get("a").in_flight == 0


def test_on_release_is_called_for_every_slot_given_back_once():
    calls = []
    pool = AccountPool(PoolSettings(), on_release=lambda: calls.append(1))
    pool.upsert(snap("a"))
    with take(pool) as lease:
        pass
    lease.release()
    assert calls == [1]


def test_lease_context_manager_releases_on_exception():
    pool = pool_of(snap("a"), max_concurrent_per_account=1)
    try:
        with take(pool):
            raise RuntimeError("client went away")
    except RuntimeError:
        pass
    assert pool.get("a").in_flight == 0
    lease = take(pool)
    lease.release()
    assert "released" in repr(lease)


def test_accounts_view_is_json_and_carries_flags_quota_locks_and_no_secrets():
    pool = pool_of(snap("a", "ultra", project="p", quota={"m": 0.42}), snap("b", project="p"))
    lease = take(pool, now=10.0)
    pool.record_failure(lease, fail("rate_limited", retry_after=30), now=10.0, wall=WALL0)
    pool.update_quota("b", {"m": ModelQuota(0.05, WALL0 + 3600)}, wall=WALL0)
    pool.report_failure("b", fail("verification_required", message="Verify your account"), now=10.0, wall=WALL0)
    view = {v["id"]: v for v in pool.accounts_view(now=20.0, wall=WALL0 + 10)}
    text = json.dumps(view)
    assert "token" not in text.lower()
    a, b = view["a"], view["b"]
    assert a["tier"] == "ultra" and a["in_flight"] == 1 and a["quota"]["models"]["m"]["percent"] == 42
    lock = {"model": "m", "reason": "rate_limited", "until": WALL0 + 30, "remaining": 20.0}
    assert a["lockouts"] == [{"scope": "model", **lock}, {"scope": "project", **lock}]
    assert b["proxy_disabled"] and b["proxy_disabled_reason"] == "verification_required: Verify your account"
    assert {"scope": "project", **lock} in b["lockouts"]
    assert any(lock["scope"] == "account" for lock in b["lockouts"])
    assert b["quota"]["models"]["m"] == {"percent": 5, "fraction": 0.05, "reset_at": WALL0 + 3600}
    assert b["quota"]["protected_models"] == []  # "m" is not a monitored model in the default policy
    assert a["circuit"] == "closed" and 0 < a["health"] <= 1
    lease.release()


def test_resilience_views():
    pool = pool_of(snap("a"))
    for _ in range(20):
        lease = take(pool)
        pool.record_success(lease, now=0.0)
        lease.release()
    (aimd,) = pool.aimd_view(now=0.0)
    assert aimd["email"] == "a@example.com" and aimd["rate"] == 20 and aimd["skipped"] is True
    assert aimd["limit"] > 15  # above-threshold successes were rewarded
    (health,) = pool.health_view(now=0.0)
    assert health["score"] == 1.0 and health["total_successes"] == 20
    (circuit,) = pool.circuits_view(now=0.0)
    assert circuit["state"] == "closed" and circuit["trips"] == 0


def test_set_tier_and_quota_books():
    pool = pool_of(snap("a", "free"), snap("b", "pro"), snap("c", enabled=False))
    pool.set_tier("a", "g1-ultra-tier")
    assert pick(pool) == "a"
    assert [acc for acc, _ in pool.quota_books()] == ["a", "b"]
    assert len(list(pool.quota_books(usable_only=False))) == 3
