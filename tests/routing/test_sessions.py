from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.sessions import SessionBindings, SessionPolicy


def test_bind_get_and_lru_bound():
    s = SessionBindings(SessionPolicy(max_bindings=2))
    s.bind("s1", "a")
    s.bind("s2", "b")
    assert s.get("s1") == "a"  # touch s1: s2 is now the oldest
    s.bind("s3", "c")
    assert s.get("s2") is None and s.get("s1") == "a" and s.get("s3") == "c"
    assert len(s) == 2


def test_three_consecutive_failures_unbind_success_resets():
    s = SessionBindings()
    s.bind("s", "a")
    assert not s.record_failure("s", "a")
    assert not s.record_failure("s", "a")
    s.record_success("s", "a")
    assert s.failures("s") == 0
    assert not s.record_failure("s", "a")
    assert not s.record_failure("s", "a")
    assert s.record_failure("s", "a")
    assert s.get("s") is None


def test_failures_elsewhere_do_not_count():
    s = SessionBindings()
    s.bind("s", "a")
    for _ in range(5):
        assert not s.record_failure("s", "b")
    assert s.get("s") == "a"


def test_rebinding_resets_failures_and_unbind_account():
    s = SessionBindings()
    s.bind("s", "a")
    s.record_failure("s", "a")
    s.bind("s", "b")
    assert s.failures("s") == 0
    s.bind("t", "b")
    s.bind("u", "c")
    assert s.unbind_account("b") == 2
    assert s.counts_by_account() == {"c": 1}
    assert s.clear() == 1 and len(s) == 0


@given(st.lists(st.tuples(st.sampled_from("bfsu"), st.integers(0, 30), st.integers(0, 3)), max_size=300))
def test_bounded_and_failure_table_only_for_bound_sessions(ops):
    s = SessionBindings(SessionPolicy(max_bindings=8))
    for op, n, m in ops:
        sid, acc = f"s{n}", f"a{m}"
        if op == "b":
            s.bind(sid, acc)
        elif op == "f":
            s.record_failure(sid, acc)
        elif op == "s":
            s.record_success(sid, acc)
        else:
            s.unbind(sid)
        assert len(s) <= 8
        assert set(s._failures) <= set(s._bindings)
        assert all(0 < n < 3 for n in s._failures.values())
