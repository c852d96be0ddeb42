"""Admin brute-force protection: the bookkeeping as pure logic (examples and properties, injected clock), the
client-address rules, and the block itself over real HTTP against daemons of their own."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.api.admin_guard import FailureTracker, GuardPolicy, client_address, parse_trusted
from antigravityd.http.message import Request
from tests.admin.harness import client, start_admin_daemon

# ---------------------------------------------------------------------------------------------------- tracker


def test_five_failures_block_for_fifteen_minutes():
    t = FailureTracker()
    for i in range(4):
        assert t.failure("1.2.3.4", now=float(i)) == 0
        assert t.blocked_for("1.2.3.4", now=float(i)) == 0
    assert t.failure("1.2.3.4", now=10.0) == 900.0
    assert t.blocked_for("1.2.3.4", now=10.0) == 900.0
    assert t.blocked_for("1.2.3.4", now=909.0) == 1.0
    assert t.blocked_for("5.6.7.8", now=11.0) == 0  # only that client
    assert t.blocked_for("1.2.3.4", now=910.0) == 0  # served: a clean slate
    assert t.failure("1.2.3.4", now=911.0) == 0


def test_success_clears_and_old_failures_are_forgotten():
    t = FailureTracker()
    for i in range(4):
        t.failure("c", now=float(i))
    t.success("c")
    assert t.failure("c", now=5.0) == 0 and len(t) == 1
    t2 = FailureTracker()
    for i in range(4):
        t2.failure("c", now=float(i))
    assert t2.failure("c", now=2000.0) == 0  # the streak is older than the window


def test_memory_is_bounded():
    t = FailureTracker(GuardPolicy(max_clients=100))
    for i in range(1000):
        t.failure(f"10.0.{i // 256}.{i % 256}", now=float(i))
    assert len(t) == 100


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["fail", "ok", "check"]),
                          st.floats(min_value=0, max_value=120)), max_size=60))
def test_no_block_without_max_failures_in_a_row(ops):
    """Property: a client is blocked only after max_failures failures without a success in between (within the
    window), and a block never outlasts block_seconds."""
    policy = GuardPolicy(max_failures=3, block_seconds=50.0, window_seconds=1e9)
    t = FailureTracker(policy)
    now = 0.0
    streak = {"a": 0, "b": 0, "c": 0}
    blocked_at: dict[str, float] = {}
    for who, op, dt in ops:
        now += dt
        wait = t.blocked_for(who, now)
        if who in blocked_at and now - blocked_at[who] >= policy.block_seconds:
            del blocked_at[who]
            streak[who] = 0
        assert (wait > 0) == (who in blocked_at)
        assert wait <= policy.block_seconds
        if wait > 0:
            continue  # the guard answers 429 without looking at the key
        if op == "fail":
            streak[who] += 1
            started = t.failure(who, now)
            assert bool(started) == (streak[who] >= policy.max_failures)
            if started:
                blocked_at[who] = now
        elif op == "ok":
            t.success(who)
            streak[who] = 0


# ---------------------------------------------------------------------------------------------------- addresses


def request_from(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request(method="GET", target=b"/api/status", headers=headers, body=b"", http_version="1.1",
                   request_id="r", client=(peer, 1234))


def test_peer_address_unless_trusted():
    none = parse_trusted([])
    proxies = parse_trusted(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert client_address(request_from("203.0.113.9", "1.1.1.1"), none) == "203.0.113.9"  # spoofing ignored
    assert client_address(request_from("203.0.113.9", "1.1.1.1"), proxies) == "203.0.113.9"  # untrusted peer
    assert client_address(request_from("127.0.0.1", "198.51.100.7"), proxies) == "198.51.100.7"
    # The rightmost untrusted hop counts; whatever the client wrote further left does not.
    assert client_address(request_from("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3"), proxies) == "198.51.100.7"
    assert client_address(request_from("127.0.0.1", "6.6.6.6", "198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(request_from("127.0.0.1"), proxies) == "127.0.0.1"  # no header: the proxy itself
    assert client_address(request_from("127.0.0.1", "garbage, 198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(request_from("127.0.0.1", "[2001:db8::1]:443"), proxies) == "2001:db8::1"
    assert client_address(request_from("::ffff:203.0.113.9"), none) == "203.0.113.9"
    with pytest.raises(ValueError):
        parse_trusted(["not an address"])


# ---------------------------------------------------------------------------------------------------- over HTTP


def test_block_after_five_wrong_keys(fake, workdir):
    d = start_admin_daemon(workdir / "d", fake, settings={"security.trusted_proxies": ["127.0.0.1"]})
    try:
        attacker = {"x-forwarded-for": "198.51.100.7"}
        with httpx.Client(base_url=d.url, timeout=10) as c:
            # No key at all is not a guess: never counted.
            for _ in range(8):
                assert c.get("/api/status", headers=attacker).status_code == 401
            for _ in range(5):
                r = c.get("/api/status", headers={**attacker, "authorization": "Bearer sk-wrong"})
                assert r.status_code == 401
            r = c.get("/api/status", headers={**attacker, "authorization": f"Bearer {d.api_key}"})
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "too_many_auth_failures"
            assert 890 <= int(r.headers["retry-after"]) <= 900
            # Other clients behind the same proxy, and the proxy routes, are unaffected.
            other = c.get("/api/status", headers={"x-forwarded-for": "198.51.100.8",
                                                  "authorization": f"Bearer {d.api_key}"})
            assert other.status_code == 200
            assert c.get("/health", headers=attacker).status_code == 200
            # A success clears a client's count: four wrong keys, a right one, four more — still not blocked.
            victim = {"x-forwarded-for": "198.51.100.9"}
            for _ in range(4):
                c.get("/api/status", headers={**victim, "authorization": "Bearer nope"})
            assert c.get("/api/status", headers={**victim, "authorization": f"Bearer {d.api_key}"}).status_code == 200
            for _ in range(4):
                assert c.get("/api/status", headers={**victim, "x-api-key": "nope"}).status_code == 401
            assert c.get("/api/status", headers={**victim, "x-api-key": d.api_key}).status_code == 200
    finally:
        d.close()


def test_forwarded_for_is_not_trusted_from_an_untrusted_peer(fake, workdir):
    d = start_admin_daemon(workdir / "d", fake)  # no trusted proxies
    try:
        with httpx.Client(base_url=d.url, timeout=10) as c:
            for i in range(5):  # a fresh "address" per guess does not help
                c.get("/api/accounts", headers={"x-forwarded-for": f"192.0.2.{i}", "authorization": "Bearer bad"})
            r = c.get("/api/accounts", headers={"x-forwarded-for": "192.0.2.200",
                                                "authorization": f"Bearer {d.api_key}"})
            assert r.status_code == 429
        with client(d) as c:
            assert c.get("/api/status").status_code == 429  # the peer (127.0.0.1) is what is blocked
    finally:
        d.close()


def test_block_length_survives_float_rounding():
    """Found by the property above: 206.69 + 50 - 206.69 is 50.00000000000003, and Retry-After is the ceiling."""
    t = FailureTracker(GuardPolicy(max_failures=1, block_seconds=50.0))
    now = 1.5633426936610988 + 85.5633426936611 + 119.5633426936611
    assert t.failure("a", now) == 50.0
    assert t.blocked_for("a", now) == 50.0
