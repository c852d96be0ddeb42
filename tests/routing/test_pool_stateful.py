"""Stateful property test: any interleaving of select / release / outcomes / admin changes / time.

Invariants checked after every step:
* no account ever has more requests in flight than the cap;
* each account's in-flight count equals the leases held on it (nothing leaks, nothing is released twice);
* a half-open circuit has at most one probe out, and the breaker knows exactly when one is;
* the indexed selector chooses an account with the same order key as the reference scan (or both find none);
* session bindings only ever point at existing, usable accounts.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.breaker import BreakerPolicy
from antigravityd.routing.lease import Lease
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota, ProtectionPolicy
from antigravityd.routing.selection import ScanSelector, order_key
from antigravityd.routing.state import PoolSettings, Unavailable

from .helpers import WALL0, snap

CAP = 2
ACCOUNTS = [f"a{i}" for i in range(6)]
MODELS = ["m1", "m2"]
TIERS = ["ultra-business", "ultra", "pro", "free", "unknown"]
SESSIONS = [None, None, "s1", "s2"]


class PoolMachine(RuleBasedStateMachine):
    @initialize(tiers=st.lists(st.sampled_from(TIERS), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
                projects=st.lists(st.sampled_from([None, "p1", "p2"]), min_size=len(ACCOUNTS),
                                  max_size=len(ACCOUNTS)))
    def setup(self, tiers, projects):
        self.pool = AccountPool(PoolSettings(
            max_concurrent_per_account=CAP,
            breaker=BreakerPolicy(failure_threshold=2, open_seconds=5, success_threshold=2),
            protection=ProtectionPolicy(threshold=20, monitored=frozenset(MODELS)),
        ), selector="index")
        for account, tier, project in zip(ACCOUNTS, tiers, projects, strict=True):
            self.pool.upsert(snap(account, tier, project=project))
        self.now = 0.0
        self.leases: list[Lease] = []

    @rule(model=st.sampled_from(MODELS), session=st.sampled_from(SESSIONS),
          exclude=st.sets(st.sampled_from(ACCOUNTS), max_size=3))
    def select(self, model, session, exclude):
        reference = None
        self.pool._maybe_reband(self.now)  # what select does first: bands follow the decayed health scores
        if session is None:
            ref = ScanSelector(self.pool._accounts, self.pool._rules).best(model, exclude, self.now)
            reference = None if ref is None else order_key(ref, model)
        got = self.pool.select(model, session_id=session, exclude=exclude, now=self.now)
        if isinstance(got, Unavailable):
            assert session is not None or reference is None, (reference, got)
            if got.retry_after is not None:
                assert got.retry_after >= 0
            return
        assert got.account_id not in exclude
        st_ = self.pool.get(got.account_id)
        if session is None:
            tier, pct, band, in_flight = order_key(st_, model)
            assert (tier, pct, band, in_flight - 1) == reference
        self.leases.append(got)

    @precondition(lambda self: self.leases)
    @rule(i=st.integers(0, 100), twice=st.booleans())
    def release(self, i, twice):
        lease = self.leases.pop(i % len(self.leases))
        lease.release()
        if twice:
            lease.release()

    @precondition(lambda self: self.leases)
    @rule(i=st.integers(0, 100))
    def succeed(self, i):
        self.pool.record_success(self.leases[i % len(self.leases)], now=self.now, latency=0.5)

    @precondition(lambda self: self.leases)
    @rule(i=st.integers(0, 100), kind=st.sampled_from(list(FailureKind)),
          retry_after=st.none() | st.floats(0, 120))
    def fail(self, i, kind, retry_after):
        lease = self.leases[i % len(self.leases)]
        events = self.pool.record_failure(lease, Failure(kind, retry_after=retry_after), now=self.now,
                                          wall=WALL0 + self.now)
        for event in events:
            assert event.account_id == lease.account_id

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0, 31.0, 400.0]))
    def tick(self, dt):
        self.now += dt

    @rule(account=st.sampled_from(ACCOUNTS), tier=st.sampled_from(TIERS), enabled=st.booleans(),
          proxy_disabled=st.booleans())
    def upsert(self, account, tier, enabled, proxy_disabled):
        if account in self.pool:
            self.pool.upsert(snap(account, tier, enabled=enabled, proxy_disabled=proxy_disabled,
                                  project=self.pool.get(account).project_id))

    @rule(account=st.sampled_from(ACCOUNTS), q1=st.floats(0, 1), q2=st.floats(0, 1))
    def quota(self, account, q1, q2):
        self.pool.update_quota(account, {"m1": ModelQuota(q1), "m2": ModelQuota(q2)}, wall=WALL0 + self.now)

    @rule(account=st.sampled_from(ACCOUNTS))
    def remove_and_readd(self, account):
        if account in self.pool:
            self.pool.remove(account)
        else:
            self.pool.upsert(snap(account))

    @rule(account=st.none() | st.sampled_from(ACCOUNTS))
    def clear_lockouts(self, account):
        self.pool.clear_lockouts(account)

    @invariant()
    def slots_match_leases(self):
        if not hasattr(self, "pool"):
            return
        held: dict[int, int] = {}
        probes: dict[int, int] = {}
        for lease in self.leases:
            held[id(lease._state)] = held.get(id(lease._state), 0) + 1
            probes[id(lease._state)] = probes.get(id(lease._state), 0) + lease.probe
        states = {id(lease._state): lease._state for lease in self.leases}
        for account in ACCOUNTS:
            st_ = self.pool.get(account)
            if st_ is not None:
                states[id(st_)] = st_
        for key, st_ in states.items():
            assert st_.in_flight == held.get(key, 0)
            assert st_.in_flight <= CAP or st_.removed
            assert probes.get(key, 0) <= 1
            if not st_.removed:
                assert st_.breaker.probe_in_flight == bool(probes.get(key, 0))

    @invariant()
    def bindings_point_at_usable_accounts(self):
        if not hasattr(self, "pool"):
            return
        for account_id in self.pool.sessions.counts_by_account():
            st_ = self.pool.get(account_id)
            assert st_ is not None and st_.usable

    def teardown(self):
        if not hasattr(self, "pool"):
            return
        for lease in self.leases:
            lease.release()
        for account in ACCOUNTS:
            st_ = self.pool.get(account)
            assert st_ is None or st_.in_flight == 0


PoolMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestPool = PoolMachine.TestCase
