import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.aimd import Aimd, AimdPolicy


def test_starts_at_seed_values():
    a = Aimd()
    assert a.limit == 15 and a.threshold == 12
    assert a.usage_ratio(0.0) == 0.0


def test_usage_ratio_counts_requests_and_slides():
    a = Aimd()
    for _ in range(12):
        a.record_request(10.0)
    assert a.usage_ratio(10.0) == pytest.approx(1.0)
    # Half of the previous minute still overlaps at t = 90 (bucket 1 started at 60).
    assert a.rate(90.0) == pytest.approx(6.0)
    assert a.rate(125.0) == 0.0  # two windows later nothing remains


def test_additive_increase_after_three_successes_above_threshold():
    a = Aimd()
    for _ in range(13):
        a.record_request(1.0)
    assert not a.record_success(1.0)
    assert not a.record_success(1.0)
    assert a.record_success(1.0)
    assert a.limit == 16 and a.rewards == 1


def test_success_below_threshold_breaks_the_streak():
    a = Aimd()
    for _ in range(13):
        a.record_request(1.0)
    a.record_success(1.0)
    a.record_success(1.0)
    a.record_error()
    assert not a.record_success(1.0)
    assert a.limit == 15
    b = Aimd()
    assert not b.record_success(1.0)  # idle account: no reward


def test_multiplicative_decrease_with_floor():
    a = Aimd(AimdPolicy(initial_limit=100))
    a.record_rate_limited(0.0)
    assert a.limit == 70
    for _ in range(20):
        a.record_rate_limited(0.0)
    assert a.limit == 10 and a.penalties == 21


def test_growth_never_stalls_at_the_floor_and_stops_at_max():
    a = Aimd(AimdPolicy(initial_limit=10, max_limit=12, reward_streak=1))
    for _ in range(50):
        a.record_request(0.0)
    a.record_success(0.0)
    assert a.limit == 11
    a.record_success(0.0)
    a.record_success(0.0)
    assert a.limit == 12


@given(st.lists(st.tuples(st.sampled_from(["req", "ok", "429", "err"]), st.floats(0, 30)), max_size=200))
def test_limit_stays_in_bounds_and_rate_is_never_negative(ops):
    a = Aimd()
    now = 0.0
    for op, dt in ops:
        now += dt
        {"req": a.record_request, "ok": a.record_success, "429": a.record_rate_limited}.get(
            op, lambda _now: a.record_error()
        )(now)
        assert 10 <= a.limit <= 1000
        assert a.rate(now) >= 0


@given(
    st.lists(st.floats(0, 200), max_size=60),
    st.floats(0.1, 3.0),
    st.floats(0, 500),
)
def test_below_ratio_at_is_the_first_moment_under_the_ratio(request_times, ratio, now):
    a = Aimd()
    t = 0.0
    for dt in request_times:
        t += dt / 10
        a.record_request(t)
    now = max(now, t)
    at = a.below_ratio_at(ratio, now)
    assert at >= now
    if at > now + 1e-3:  # (ask about the earlier moment first: the estimate only moves forward in time)
        assert a.usage_ratio(at - 1e-3) > ratio - 1e-6
    assert a.usage_ratio(at + 1e-6) <= ratio + 1e-6
