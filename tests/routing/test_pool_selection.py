"""Selection order and filters, run against both the indexed selector and the reference scan."""

import pytest

from antigravityd.routing.breaker import BreakerPolicy
from antigravityd.routing.quota import ModelQuota, ProtectionPolicy
from antigravityd.routing.state import Unavailable, Why

from .helpers import WALL0, fail, pick, pool_of, snap, take


@pytest.fixture(params=[True, False], ids=["indexed", "scan"])
def indexed(request):
    return request.param


def test_tier_priority_first(indexed):
    pool = pool_of(snap("free", "free"), snap("pro", "pro"), snap("unk", "unknown"), snap("ub", "ultra-business"),
                   snap("ul", "ultra"), indexed=indexed)
    order = []
    for _ in range(5):
        chosen = pick(pool, exclude=order)
        order.append(chosen)
    assert order == ["ub", "ul", "pro", "free", "unk"]


def test_quota_for_the_requested_model_not_the_account_best(indexed):
    # "gem-rich" is full on Gemini but empty-ish on Claude; the seed sorted it first for Claude requests.
    pool = pool_of(
        snap("gem-rich", quota={"gemini": 1.0, "claude": 0.2}),
        snap("claude-rich", quota={"gemini": 0.1, "claude": 0.9}),
        indexed=indexed,
    )
    assert pick(pool, "claude") == "claude-rich"
    assert pick(pool, "gemini") == "gem-rich"


def test_unknown_quota_sorts_after_known(indexed):
    pool = pool_of(snap("unknown"), snap("known", quota={"m": 0.3}), indexed=indexed)
    assert pick(pool) == "known"


def test_health_then_least_connections(indexed):
    pool = pool_of(snap("a"), snap("b"), snap("c"), indexed=indexed)
    held = [take(pool)]
    second = take(pool)
    assert second.account_id != held[0].account_id  # least connections spreads
    held.append(second)
    # Make "c" (the idle one) unhealthy: it now sorts after busy healthy accounts.
    idle = ({"a", "b", "c"} - {lease.account_id for lease in held}).pop()
    lease = pool.select("other-model", now=0.0, exclude=[x for x in "abc" if x != idle])
    pool.record_failure(lease, fail("transport"), now=0.0, wall=WALL0)
    lease.release()
    assert pool.get(idle).health_band < 10
    assert pick(pool) != idle


def test_concurrency_cap_and_release(indexed):
    pool = pool_of(snap("a"), indexed=indexed, max_concurrent_per_account=2)
    l1, l2 = take(pool), take(pool)
    got = pool.select("m", now=0.0)
    assert got == Unavailable(None, Why.AT_CAPACITY)
    l1.release()
    l1.release()  # idempotent
    assert pool.get("a").in_flight == 1
    with take(pool) as l3:
        assert l3.account_id == "a"
    l2.release()
    assert pool.get("a").in_flight == 0


def test_disabled_and_proxy_disabled_are_skipped_and_metadata_applies_at_once(indexed):
    pool = pool_of(snap("a", "ultra", enabled=False), snap("b", "pro", proxy_disabled=True), snap("c", "free"),
                   indexed=indexed)
    assert pick(pool) == "c"
    pool.upsert(snap("a", "ultra"))
    assert pick(pool) == "a"
    pool.upsert(snap("a", "free"))  # tier change applies immediately
    pool.upsert(snap("c", "pro"))
    assert pick(pool) == "c"


def test_lockouts_account_model_and_shared_project(indexed):
    pool = pool_of(snap("a", "ultra", project="p1"), snap("b", "pro", project="p1"), snap("c", "free", project="p2"),
                   indexed=indexed)
    lease = take(pool, "m")
    assert lease.account_id == "a"
    events = pool.record_failure(lease, fail("rate_limited", retry_after=30), now=0.0, wall=WALL0)
    lease.release()
    assert [(e.kind, e.model, e.project_id, e.until) for e in events] == [("lockout", "m", "p1", WALL0 + 30)]
    # b shares project p1: Google would throttle it too.
    assert pick(pool, "m", now=1.0) == "c"
    assert pick(pool, "other", now=1.0) == "a"
    assert pick(pool, "m", now=30.0) == "a"


def test_account_level_lock_from_verification_proxy_disables(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b"), indexed=indexed)
    lease = take(pool)
    events = pool.record_failure(lease, fail("verification_required", message="Verify your account",
                                             detail_url="https://accounts.google.com/x"), now=0.0, wall=WALL0)
    lease.release()
    kinds = [e.kind for e in events]
    assert kinds == ["lockout", "account_proxy_disabled"]
    assert events[0].model is None and events[0].until == WALL0 + 3600
    assert events[1].detail == "https://accounts.google.com/x"
    st = pool.get("a")
    assert st.proxy_disabled and st.proxy_disabled_reason == "verification_required: Verify your account"
    assert pick(pool, now=5000.0) == "b"  # stays out after the lock: proxy-disabled until an operator acts


def test_invalid_grant_disables_with_reason(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b"), indexed=indexed)
    events = pool.report_failure("a", fail("invalid_grant", message="Token has been expired or revoked."),
                                 now=0.0, wall=WALL0)
    assert [(e.kind, e.reason) for e in events] == [("account_disabled", "invalid_grant: Token has been expired or "
                                                                          "revoked.")]
    assert not pool.get("a").enabled
    assert pick(pool) == "b"
    assert pool.report_failure("missing", fail("invalid_grant"), now=0.0, wall=WALL0) == []


def test_quota_exhausted_protects_and_update_restores(indexed):
    pool = pool_of(snap("a", "ultra", quota={"m": 0.5}), snap("b"), indexed=indexed,
                   protection=ProtectionPolicy(threshold=10, monitored=frozenset({"m"})))
    lease = take(pool)
    events = pool.record_failure(lease, fail("quota_exhausted"), now=0.0, wall=WALL0)
    lease.release()
    assert [(e.kind, e.model) for e in events] == [("lockout", "m"), ("model_protected", "m")]
    assert events[0].until == WALL0 + 600
    assert pool.select("m", now=100.0, exclude=["b"]) == Unavailable(500.0, Why.LOCKED)  # Google's reset
    assert pool.select("m", now=700.0, exclude=["b"]) == Unavailable(None, Why.QUOTA_PROTECTED)
    assert pick(pool, now=700.0) == "b"  # the lock is over but the model stays protected
    assert pick(pool, "other", now=700.0) == "a"
    events = pool.update_quota("a", {"m": ModelQuota(1.0)}, wall=WALL0 + 700)
    assert [(e.kind, e.model) for e in events] == [("model_unprotected", "m")]
    assert pick(pool, now=700.0) == "a"
    # Dropping to the threshold protects again.
    events = pool.update_quota("a", {"m": ModelQuota(0.1)}, wall=WALL0 + 800)
    assert [e.kind for e in events] == ["model_protected"]
    assert pick(pool, now=800.0) == "b"


def test_protection_disabled_ignores_protected_models(indexed):
    pool = pool_of(snap("a", protected_models={"m"}), indexed=indexed, protection=ProtectionPolicy(enabled=False))
    assert pick(pool) == "a"


def test_breaker_opens_then_single_half_open_probe(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b"), indexed=indexed,
                   breaker=BreakerPolicy(failure_threshold=2, open_seconds=60, success_threshold=1))
    for _ in range(2):
        lease = take(pool, exclude=["b"])
        events = pool.record_failure(lease, fail("transport"), now=0.0, wall=WALL0)
        lease.release()
    assert [e.kind for e in events][-1] == "circuit_opened"
    assert pick(pool, "m2", now=10.0) == "b"
    probe = take(pool, "m2", now=61.0)
    assert probe.account_id == "a" and probe.probe
    assert pick(pool, "m2", now=61.0) == "b"  # only one probe in flight
    events = pool.record_success(probe, now=62.0)
    probe.release()
    assert [e.kind for e in events] == ["circuit_closed"]
    assert pick(pool, "m2", now=62.0) == "a"


def test_cancelled_probe_gives_the_probe_slot_back(indexed):
    pool = pool_of(snap("a"), indexed=indexed, breaker=BreakerPolicy(failure_threshold=1, open_seconds=5))
    lease = take(pool)
    pool.record_failure(lease, fail("timeout"), now=0.0, wall=WALL0)
    lease.release()
    probe = take(pool, now=5.0)
    assert probe.probe
    assert isinstance(pool.select("m", now=5.0), Unavailable)
    probe.release()  # cancelled: no verdict
    assert take(pool, now=5.0).probe


def test_aimd_is_a_soft_filter(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b", "free"), indexed=indexed)
    for _ in range(20):  # 20 requests in a minute: far above a 15 RPM ceiling
        take(pool, exclude=["b"]).release()
    assert pool.get("a").aimd.usage_ratio(0.0) > 1.2
    assert pick(pool) == "b"
    pool.upsert(snap("b", "free", enabled=False))
    assert pick(pool) == "a"  # the only one left: an estimate alone never refuses service


def test_unavailable_retry_after_is_the_earliest_end(indexed):
    pool = pool_of(snap("a", project="p"), snap("b"), snap("c"), indexed=indexed)
    for account, seconds in (("a", 40), ("b", 12.5)):
        lease = take(pool, exclude=[x for x in "abc" if x != account])
        pool.record_failure(lease, fail("rate_limited", retry_after=seconds), now=0.0, wall=WALL0)
        lease.release()
    lease = take(pool, exclude=["a", "b"])
    pool.record_failure(lease, fail("forbidden"), now=0.0, wall=WALL0)  # 30 s
    lease.release()
    assert pool.select("m", now=2.0) == Unavailable(10.5, Why.LOCKED)
    assert pool.select("m", now=2.0, exclude=["b"]) == Unavailable(28.0, Why.LOCKED)
    assert pick(pool, now=12.5) == "b"


def test_unavailable_reasons(indexed):
    assert pool_of(indexed=indexed).select("m", now=0.0) == Unavailable(None, Why.NO_ACCOUNTS)
    pool = pool_of(snap("a"), indexed=indexed)
    assert pool.select("m", now=0.0, exclude={"a"}) == Unavailable(None, Why.NO_ACCOUNTS)
    pool = pool_of(snap("a", protected_models={"m"}), indexed=indexed)
    assert pool.select("m", now=0.0) == Unavailable(None, Why.QUOTA_PROTECTED)


def test_force_account_and_fixed_mode(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b", "free", protected_models={"m"}), indexed=indexed)
    lease = take(pool, force_email="B@Example.com")
    assert lease.account_id == "b"  # bypasses tier order and protection
    lease.release()
    assert pool.select("m", now=0.0, force_email="nobody@x") == Unavailable(None, Why.UNKNOWN_FORCED_ACCOUNT)
    lease = take(pool, force_email="b@example.com")
    pool.record_failure(lease, fail("rate_limited", retry_after=20), now=0.0, wall=WALL0)
    lease.release()
    assert pool.select("m", now=5.0, force_email="b@example.com") == Unavailable(
        15.0, Why.FORCED_ACCOUNT_UNAVAILABLE)
    fixed = pool_of(snap("a", "ultra"), snap("b", "free"), indexed=indexed, fixed_account="b@example.com")
    assert pick(fixed) == "b"


def test_upsert_keeps_runtime_state_and_remove_is_safe_with_leases_out(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed, max_concurrent_per_account=1)
    lease = take(pool, exclude=["b"])
    pool.record_failure(lease, fail("rate_limited", retry_after=100), now=0.0, wall=WALL0)
    pool.upsert(snap("a", "ultra", project="p9"))
    st = pool.get("a")
    assert st.in_flight == 1 and st.tier.name == "ULTRA"
    assert pool.lockouts.blocked_until("a", None, "m", 0.0) == 100
    pool.remove("a")
    lease.release()  # the old account object takes it; nothing breaks
    assert "a" not in pool and pick(pool) == "b"
    pool.upsert(snap("a"))
    assert pool.get("a").in_flight == 0


def test_clear_lockouts_one_and_all(indexed):
    pool = pool_of(snap("a", project="p"), snap("b", project="p"), snap("c"), indexed=indexed)
    for acc in "ac":
        lease = take(pool, exclude=[x for x in "abc" if x != acc])
        pool.record_failure(lease, fail("quota_exhausted", retry_after=1000), now=0.0, wall=WALL0)
        lease.release()
    # a and c are protected; b is locked through a's project.
    assert pool.select("m", now=1.0) == Unavailable(999.0, Why.LOCKED)
    pool.update_quota("a", {"m": ModelQuota(1.0)}, wall=WALL0)
    pool.update_quota("c", {"m": ModelQuota(1.0)}, wall=WALL0)
    assert pool.select("m", now=1.0) == Unavailable(999.0, Why.LOCKED)
    pool.clear_lockouts("a")  # also lifts the project lock that kept "b" out
    assert pick(pool, now=1.0, exclude=["a"]) == "b"
    pool.clear_lockouts()
    assert pick(pool, now=1.0, exclude=["a", "b"]) == "c"


def test_server_error_and_not_found_lock_only_the_model(indexed):
    pool = pool_of(snap("a", "ultra"), snap("b"), indexed=indexed)
    lease = take(pool)
    pool.record_failure(lease, fail("not_found"), now=0.0, wall=WALL0)
    lease.release()
    assert pick(pool, "m") == "b" and pick(pool, "n") == "a"
    assert pick(pool, "m", now=15.0) == "a"


def test_reconfigure_applies_the_new_cap_and_keeps_learned_state(indexed):
    from antigravityd.routing.state import PoolSettings

    pool = pool_of(snap("a"), indexed=indexed, max_concurrent_per_account=1)
    held = take(pool)
    assert pool.select("m", now=0.0).reason == Why.AT_CAPACITY
    pool.get("a").aimd.record_rate_limited(0.0)
    pool.reconfigure(PoolSettings(max_concurrent_per_account=2))
    assert pool.get("a").aimd.limit == 10 and pool.get("a").in_flight == 1
    second = take(pool)
    assert pool.select("m", now=0.0).reason == Why.AT_CAPACITY
    held.release()
    second.release()
    assert pool.in_flight() == {"a": 0}


def test_auto_selector_switches_between_scan_and_index_as_the_pool_grows_and_shrinks():
    from antigravityd.routing.pool import AccountPool
    from antigravityd.routing.state import PoolSettings

    pool = AccountPool(PoolSettings(max_concurrent_per_account=1))
    pool.upsert(snap("only", "free"))
    assert pick(pool) == "only"
    for i in range(40):
        pool.upsert(snap(f"p{i}", "pro", quota={"m": 0.5}))
    pool.upsert(snap("top", "ultra"))
    assert pick(pool) == "top"
    held = take(pool)
    assert held.account_id == "top" and pick(pool) != "top"  # the index sees the slot taken …
    held.release()
    assert pick(pool) == "top"  # … and given back
    for i in range(40):
        pool.remove(f"p{i}")
    pool.upsert(snap("top", "ultra", enabled=False))
    assert pick(pool) == "only"
