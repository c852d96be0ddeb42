"""Sticky sessions through the pool."""

import pytest

from .helpers import WALL0, fail, pick, pool_of, snap, take


@pytest.fixture(params=[True, False], ids=["indexed", "scan"])
def indexed(request):
    return request.param


def test_conversation_stays_on_one_account_across_turns(indexed):
    pool = pool_of(snap("a"), snap("b"), snap("c"), indexed=indexed)
    first = pick(pool, session_id="s")
    busy = [take(pool, exclude=[x for x in "abc" if x != first]) for _ in range(3)]  # load the bound account
    for _ in range(5):
        assert pick(pool, session_id="s") == first
    assert pick(pool) != first  # without a session, least connections goes elsewhere
    for lease in busy:
        lease.release()


def test_ultra_overrides_a_non_ultra_binding_and_takes_it_over(indexed):
    pool = pool_of(snap("pro", "pro"), snap("ultra", "ultra"), indexed=indexed)
    assert pick(pool, session_id="s", exclude=["ultra"]) == "pro"
    assert pool.sessions.get("s") == "pro"
    assert pick(pool, session_id="s") == "ultra"
    assert pool.sessions.get("s") == "ultra"


def test_ultra_binding_is_sticky_among_ultras(indexed):
    pool = pool_of(snap("u1", "ultra"), snap("u2", "ultra"), indexed=indexed)
    bound = pick(pool, session_id="s")
    other = "u2" if bound == "u1" else "u1"
    held = take(pool, exclude=[other])  # bound account is now busier than the other ultra
    assert pick(pool, session_id="s") == bound
    held.release()


def test_ultra_busy_falls_back_to_the_sticky_binding(indexed):
    pool = pool_of(snap("p1"), snap("p2"), snap("u", "ultra"), indexed=indexed, max_concurrent_per_account=1)
    assert pick(pool, session_id="s", exclude=["u", "p2"]) == "p1"
    held = take(pool, exclude=["p1", "p2"])  # the ultra account is full
    assert pick(pool, session_id="s") == "p1"
    held.release()


def test_a_429_migrates_only_the_request(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed)
    lease = take(pool, session_id="s")
    bound = lease.account_id
    pool.record_failure(lease, fail("rate_limited", retry_after=20), now=0.0, wall=WALL0)
    lease.release()
    retry = take(pool, session_id="s", exclude=[bound])  # the pipeline's retry
    assert retry.account_id != bound
    retry.release()
    assert pool.sessions.get("s") == bound
    other = retry.account_id
    assert pick(pool, session_id="s", now=5.0) == other  # still locked: this turn goes elsewhere too
    assert pool.sessions.get("s") == bound  # … without moving the binding
    assert pick(pool, session_id="s", now=20.0) == bound  # back once the short lock is over


def test_three_consecutive_failures_unbind(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed)
    bound = pick(pool, session_id="s")
    for i in range(3):
        lease = take(pool, session_id="s")
        assert lease.account_id == bound
        pool.record_failure(lease, fail("transport"), now=float(i), wall=WALL0)
        lease.release()
    assert pool.sessions.get("s") is None
    rebound = pick(pool, session_id="s", now=3.0)
    assert pool.sessions.get("s") == rebound


def test_success_resets_the_failure_count(indexed):
    pool = pool_of(snap("a"), indexed=indexed)
    for i in range(6):
        lease = take(pool, session_id="s", now=float(i))
        if i % 2:
            pool.record_success(lease, now=float(i))
        else:
            pool.record_failure(lease, fail("empty_response"), now=float(i), wall=WALL0)
        lease.release()
    assert pool.sessions.get("s") == "a"


def test_lockout_longer_than_five_minutes_unbinds(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed)
    lease = take(pool, session_id="s")
    bound = lease.account_id
    pool.record_failure(lease, fail("quota_exhausted", retry_after=3600), now=0.0, wall=WALL0)
    lease.release()
    other = pick(pool, session_id="s", now=1.0)
    assert other != bound and pool.sessions.get("s") == other


def test_disabled_account_drops_its_bindings(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed)
    bound = pick(pool, session_id="s")
    pool.upsert(snap(bound, enabled=False))
    assert pool.sessions.get("s") is None
    assert pick(pool, session_id="s") != bound


def test_affinity_off_and_clear_bindings(indexed):
    pool = pool_of(snap("a"), snap("b"), indexed=indexed, session_affinity=False)
    pick(pool, session_id="s")
    assert len(pool.sessions) == 0
    pool = pool_of(snap("a"), indexed=indexed)
    pick(pool, session_id="s1")
    pick(pool, session_id="s2")
    assert pool.clear_bindings() == 2 and pool.sessions.get("s1") is None
