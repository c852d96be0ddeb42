import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.retry import Action, RetryPolicy, RetryState, WaitPlan, plan_unavailable
from antigravityd.routing.state import Unavailable, Why

K = FailureKind
A = Action


def first(kind, **kw):
    return RetryState().next(Failure(kind, **kw), bytes_sent=False)


@pytest.mark.parametrize(
    ("kind", "kw", "action", "delay"),
    [
        (K.BAD_REQUEST, {}, A.RETURN, 0.0),
        (K.PROMPT_TOO_LONG, {}, A.RETURN, 0.0),
        (K.TRUNCATED, {}, A.RETURN, 0.0),
        (K.SIGNATURE_INVALID, {}, A.REWRITE, 0.0),
        (K.UNAUTHENTICATED, {}, A.REFRESH_TOKEN, 0.0),
        (K.RATE_LIMITED, {"retry_after": 0.63}, A.SAME_ACCOUNT, 0.83),
        (K.RATE_LIMITED, {"retry_after": 3.0}, A.ROTATE, 0.0),
        (K.RATE_LIMITED, {}, A.ROTATE, 0.0),
        (K.RESOURCE_EXHAUSTED, {}, A.ROTATE, 0.0),
        (K.QUOTA_EXHAUSTED, {"retry_after": 1.0}, A.ROTATE, 0.0),
        (K.CAPACITY, {}, A.SAME_ACCOUNT, 1.0),
        (K.CAPACITY, {"retry_after": 40.0}, A.SAME_ACCOUNT, 3.0),
        (K.SERVER_ERROR, {}, A.ROTATE, 0.5),
        (K.TRANSPORT, {}, A.ROTATE, 0.0),
        (K.TIMEOUT, {}, A.ROTATE, 0.0),
        (K.EMPTY_RESPONSE, {}, A.ROTATE, 0.0),
        (K.INVALID_GRANT, {}, A.ROTATE, 0.0),
        (K.VERIFICATION_REQUIRED, {}, A.ROTATE, 0.0),
        (K.TOS_BANNED, {}, A.ROTATE, 0.0),
        (K.FORBIDDEN, {}, A.ROTATE, 0.0),
        (K.NOT_FOUND, {}, A.ROTATE, 0.0),
    ],
)
def test_first_failure_table(kind, kw, action, delay):
    d = first(kind, **kw)
    assert d.action is action
    assert d.delay == pytest.approx(delay)


def test_every_kind_has_a_row():
    for kind in FailureKind:
        assert first(kind).action in Action


def test_bytes_sent_always_aborts():
    for kind in FailureKind:
        assert RetryState().next(Failure(kind), bytes_sent=True).action is A.ABORT


def test_same_account_once_per_account_then_rotate_resets_it():
    s = RetryState()
    short = Failure(K.RATE_LIMITED, retry_after=1.0)
    assert s.next(short, bytes_sent=False).action is A.SAME_ACCOUNT
    assert s.next(short, bytes_sent=False).action is A.ROTATE
    assert s.next(short, bytes_sent=False).action is A.SAME_ACCOUNT  # a new account gets its own grace retry


def test_refresh_once_per_account_and_rewrite_once_per_request():
    s = RetryState()
    assert s.next(Failure(K.UNAUTHENTICATED), bytes_sent=False).action is A.REFRESH_TOKEN
    assert s.next(Failure(K.UNAUTHENTICATED), bytes_sent=False).action is A.ROTATE
    assert s.next(Failure(K.UNAUTHENTICATED), bytes_sent=False).action is A.REFRESH_TOKEN
    assert s.next(Failure(K.SIGNATURE_INVALID), bytes_sent=False).action is A.REWRITE
    assert s.next(Failure(K.SIGNATURE_INVALID), bytes_sent=False).action is A.RETURN


def test_capacity_backoff_and_server_error_backoff():
    s = RetryState()
    cap = Failure(K.CAPACITY)
    assert [s.next(cap, bytes_sent=False).delay for _ in range(7)] == [1.0, 1.0, 1.0, 2.0, 1.0, 4.0, 1.0]
    s = RetryState()
    assert [s.next(Failure(K.SERVER_ERROR), bytes_sent=False).delay for _ in range(5)] == [0.5, 1.0, 1.5, 2.0, 2.0]


@given(st.lists(st.sampled_from(list(FailureKind)), min_size=1, max_size=40), st.integers(1, 10))
def test_attempts_are_bounded(kinds, max_attempts):
    s = RetryState(RetryPolicy(max_attempts=max_attempts))
    retried = 0
    for kind in kinds:
        d = s.next(Failure(kind, retry_after=1.0), bytes_sent=False)
        assert d.delay >= 0
        if not d.retries:
            break
        retried += 1
    assert retried < max_attempts


def test_plan_unavailable():
    assert plan_unavailable(Unavailable(1.5, Why.LOCKED)) == WaitPlan(1.5, 2)
    assert plan_unavailable(Unavailable(30.2, Why.LOCKED)) == WaitPlan(None, 31)
    assert plan_unavailable(Unavailable(1.5, Why.LOCKED), waited=1.0) == WaitPlan(None, 2)
    assert plan_unavailable(Unavailable(None, Why.AT_CAPACITY)) == WaitPlan(2.0, 1)
    assert plan_unavailable(Unavailable(None, Why.NO_ACCOUNTS)) == WaitPlan(None, None)
    assert plan_unavailable(Unavailable(0.0, Why.LOCKED)) == WaitPlan(0.0, 1)
