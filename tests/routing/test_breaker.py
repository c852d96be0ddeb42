from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.breaker import Breaker, BreakerPolicy, CircuitState

CLOSED, OPEN, HALF = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def opened(now=0.0):
    b = Breaker()
    for _ in range(4):
        assert b.record_failure(now, probe=False) is None
        assert b.state(now) is CLOSED
    assert b.record_failure(now, probe=False) is OPEN
    return b


def test_opens_after_n_consecutive_failures_and_success_resets_count():
    b = Breaker()
    for _ in range(4):
        b.record_failure(0, probe=False)
    b.record_success(0, probe=False)
    for _ in range(4):
        assert b.record_failure(0, probe=False) is None
    assert b.record_failure(0, probe=False) is OPEN
    assert not b.allows(1) and b.reopens_at(1) == 60 and b.trips == 1


def test_half_open_allows_exactly_one_probe_then_closes_after_m_successes():
    b = opened()
    assert not b.allows(59.9)
    assert b.allows(60) and b.state(60) is HALF
    assert b.acquire(60) is True
    assert not b.allows(60)  # second request refused while the probe is out
    assert b.record_success(61, probe=True) is None  # 1 of 2
    assert b.allows(61) and b.acquire(61)
    assert b.record_success(62, probe=True) is CLOSED
    assert b.allows(62) and b.acquire(62) is False


def test_failed_probe_reopens_for_a_full_period():
    b = opened()
    b.acquire(60)
    assert b.record_failure(61, probe=True) is OPEN
    assert not b.allows(120) and b.allows(121) and b.trips == 2


def test_probe_without_verdict_gives_the_slot_back():
    b = opened()
    b.acquire(60)
    b.release_probe()
    assert b.allows(60) and b.state(60) is HALF


def test_stale_outcomes_are_ignored_while_open_or_half_open():
    b = opened()
    assert b.record_success(10, probe=False) is None and b.state(10) is OPEN
    b.acquire(60)
    assert b.record_failure(60, probe=False) is None  # a request from before the trip
    assert b.state(60) is HALF and b.probe_in_flight


@given(st.lists(st.tuples(st.sampled_from(["ok", "fail", "acquire", "release"]), st.floats(0, 40)), max_size=100))
def test_never_more_than_one_probe(ops):
    b = Breaker(BreakerPolicy(failure_threshold=2, open_seconds=30, success_threshold=2))
    now = 0.0
    probes = 0  # probes we hold
    for op, dt in ops:
        now += dt
        if op == "acquire" and b.allows(now):
            if b.acquire(now):
                assert probes == 0
                probes = 1
        elif op == "release" and probes:
            b.release_probe()
            probes = 0
        elif op == "ok":
            b.record_success(now, probe=bool(probes))
            probes = 0
        elif op == "fail":
            b.record_failure(now, probe=bool(probes))
            probes = 0
        assert b.probe_in_flight == bool(probes) or b.state(now) is not HALF
