import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.health import Health


def test_no_data_is_perfect_health():
    assert Health().score(0.0) == 1.0
    assert Health().score(1e6) == 1.0


def test_failures_weigh_four_times():
    h = Health()
    for _ in range(3):
        h.record_success(0)
    h.record_failure(0)
    assert h.score(0) == pytest.approx(4 / (4 + 4))


def test_decays_back_towards_one_with_a_ten_minute_half_life():
    h = Health()
    h.record_failure(0)
    assert h.score(0) == pytest.approx(1 / 5)
    assert h.score(600) == pytest.approx(1 / (1 + 4 * 0.5))
    assert h.score(6000) > 0.99
    assert h.total_failures == 1


def test_recent_outcomes_outweigh_old_ones():
    old_bad, new_bad = Health(), Health()
    for _ in range(5):
        old_bad.record_failure(0)
        new_bad.record_success(0)
    for _ in range(5):
        old_bad.record_success(1200)
        new_bad.record_failure(1200)
    assert old_bad.score(1200) > new_bad.score(1200)


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1000)), max_size=100))
def test_score_is_a_probability_and_failures_never_raise_it(events):
    h = Health()
    now = 0.0
    for ok, dt in events:
        now += dt
        before = h.score(now)
        (h.record_success if ok else h.record_failure)(now)
        after = h.score(now)
        assert 0.0 < after <= 1.0
        if not ok:
            assert after <= before
