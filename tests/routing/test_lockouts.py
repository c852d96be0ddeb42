import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.lockouts import LockoutPolicy, Lockouts, Scope, decide

K = FailureKind
WALL = 1_800_000_000.0
P = LockoutPolicy()


def fail(kind, **kw):
    return Failure(kind=kind, **kw)


@pytest.mark.parametrize(
    ("kind", "scope", "duration"),
    [
        (K.SERVER_ERROR, Scope.MODEL, 10.0),
        (K.FORBIDDEN, Scope.MODEL, 30.0),
        (K.NOT_FOUND, Scope.MODEL, 15.0),
        (K.VERIFICATION_REQUIRED, Scope.ACCOUNT, 3600.0),
        (K.TOS_BANNED, Scope.ACCOUNT, 86400.0),
        (K.CAPACITY, Scope.NONE, 0.0),
        (K.UNAUTHENTICATED, Scope.NONE, 0.0),
        (K.TRANSPORT, Scope.NONE, 0.0),
        (K.BAD_REQUEST, Scope.NONE, 0.0),
        (K.INVALID_GRANT, Scope.NONE, 0.0),
    ],
)
def test_fixed_durations(kind, scope, duration):
    d = decide(fail(kind), streak=1, wall=WALL, policy=P)
    assert (d.scope, d.duration) == (scope, duration)


def test_account_flags():
    assert decide(fail(K.INVALID_GRANT), streak=0, wall=WALL, policy=P).disable
    assert decide(fail(K.TOS_BANNED), streak=0, wall=WALL, policy=P).proxy_disable
    assert decide(fail(K.VERIFICATION_REQUIRED), streak=0, wall=WALL, policy=P).proxy_disable
    q = decide(fail(K.QUOTA_EXHAUSTED), streak=1, wall=WALL, policy=P)
    assert q.protect_model and q.project_wide and q.duration == 600.0 and not q.exact


def test_exact_reset_prefers_retry_after_then_reset_at_and_clamps():
    d = decide(fail(K.RATE_LIMITED, retry_after=42.5, reset_at=WALL + 999), streak=3, wall=WALL, policy=P)
    assert d.duration == 42.5 and d.exact
    d = decide(fail(K.QUOTA_EXHAUSTED, reset_at=WALL + 7200), streak=1, wall=WALL, policy=P)
    assert d.duration == 7200 and d.exact
    assert decide(fail(K.RATE_LIMITED, retry_after=0.63), streak=1, wall=WALL, policy=P).duration == 1.0
    assert decide(fail(K.RATE_LIMITED, reset_at=WALL - 50), streak=1, wall=WALL, policy=P).duration == 1.0
    huge = decide(fail(K.QUOTA_EXHAUSTED, retry_after=1e9), streak=1, wall=WALL, policy=P)
    assert huge.duration == 8 * 86400


def test_adaptive_ladder_and_its_memory():
    locks = Lockouts()
    t = 100.0
    got = []
    for _ in range(5):
        _, lock = locks.apply("a", None, "m", fail(K.RESOURCE_EXHAUSTED), now=t, wall=WALL)
        got.append(lock.until - t)
        t = lock.until + 1
    assert got == [5, 15, 30, 60, 60]
    # An hour of quiet forgets the streak.
    t += 3600
    _, lock = locks.apply("a", None, "m", fail(K.RATE_LIMITED), now=t, wall=WALL)
    assert lock.until - t == 5
    # A success on that pair resets it too; other pairs keep theirs.
    locks.apply("a", None, "other", fail(K.RATE_LIMITED), now=t, wall=WALL)
    locks.on_success("a", "m")
    assert locks.streak("a", "m") == 0 and locks.streak("a", "other") == 1


def test_shared_project_lock_blocks_siblings_but_not_other_models_or_projects():
    locks = Lockouts()
    locks.apply("a", "proj", "m", fail(K.QUOTA_EXHAUSTED, retry_after=300), now=0, wall=WALL)
    assert locks.blocked_until("b", "proj", "m", 0) == 300
    assert locks.blocked_until("b", "proj", "other", 0) == 0
    assert locks.blocked_until("c", "elsewhere", "m", 0) == 0
    assert locks.blocked_until("b", None, "m", 0) == 0
    # Non-quota classes stay on the account.
    locks.apply("a", "proj", "m2", fail(K.FORBIDDEN), now=0, wall=WALL)
    assert locks.blocked_until("b", "proj", "m2", 0) == 0
    assert locks.blocked_until("a", "proj", "m2", 0) == 30


def test_locks_never_shorten_and_account_locks_cover_every_model():
    locks = Lockouts()
    locks.apply("a", None, "m", fail(K.QUOTA_EXHAUSTED), now=0, wall=WALL)
    _, lock = locks.apply("a", None, "m", fail(K.RATE_LIMITED, retry_after=2), now=1, wall=WALL)
    assert lock.until == 600 and lock.reason == "quota_exhausted"
    locks.apply("a", None, "m", fail(K.TOS_BANNED), now=0, wall=WALL)
    assert locks.blocked_until("a", None, "zzz", 0) == 86400
    locks.on_success("a", "m")  # success lifts the account lock
    assert locks.blocked_until("a", None, "zzz", 0) == 0


def test_clear_and_prune():
    locks = Lockouts()
    locks.apply("a", "p", "m", fail(K.RATE_LIMITED), now=0, wall=WALL)
    locks.apply("b", "q", "m", fail(K.RATE_LIMITED), now=0, wall=WALL)
    locks.clear("a", "p")
    assert locks.blocked_until("a", "p", "m", 0) == 0 and locks.blocked_until("b", "q", "m", 0) == 5
    assert list(locks.active_for("b", "q", 0)) and not list(locks.active_for("a", "p", 0))
    locks.prune(10)
    assert not locks.model and not locks.project
    locks.apply("b", "q", "m", fail(K.RATE_LIMITED), now=20, wall=WALL)
    locks.clear()
    assert not locks.model and not locks.project and locks.streak("b", "m") == 0


@given(
    st.lists(
        st.tuples(st.sampled_from(list(FailureKind)), st.none() | st.floats(0, 1e7), st.floats(0, 100)),
        max_size=30,
    )
)
def test_blocked_until_is_the_longest_lock_ever_placed(events):
    locks = Lockouts()
    now = 0.0
    expected = 0.0
    for kind, retry_after, step in events:
        now += step
        _, lock = locks.apply("a", "p", "m", fail(kind, retry_after=retry_after), now=now, wall=WALL)
        if lock is not None:
            assert lock.until > now
            expected = max(expected, lock.until)
        assert locks.blocked_until("a", "p", "m", now) == pytest.approx(expected)
