"""The indexed selector: pick the best eligible account in (near) constant time, however large the pool.

A plain scan looks at every account for every request (≈1 µs each: 1 ms at 1,000 accounts). Instead, each model
that has been asked for gets a :class:`_ModelIndex`:

* accounts are grouped by the slow-moving part of the order key — (tier, −quota percent for this model,
  −health band) — and the group keys are kept sorted;
* inside a group, accounts sit in one bucket per in-flight count (0 … cap−1, plus a "full" bucket that is never
  searched), each bucket in least-recently-moved order, which gives least-connections with an LRU tie-break;
* an account found **blocked** during a search (locked, circuit open, protected, probe out) is *parked*: taken out
  of the buckets and put on a wake-up heap at the time its block ends (or held until an event if waiting alone
  will not end it);
* an account found over its AIMD ceiling moves to a second layer with the same structure until the exact moment
  its rate falls back under the ceiling. The second layer is searched only when the first has nothing eligible
  (AIMD is a soft filter, see ``selection.py``), so even a pool that is over its ceiling everywhere is searched
  in order rather than scanned.

The index is only an accelerator: eligibility is always re-checked with :class:`Rules` when an account is
considered, so a stale entry can cost a look but never a wrong answer. To keep it from hiding an account whose
block ended early, the pool calls :meth:`IndexedSelector.refresh` after *every* change to an account (slot taken
or returned, outcome, quota, metadata, cleared locks), which re-files it by its current key and unparks it.
The property tests check that this selector always agrees with the reference scan (``ScanSelector``).
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections import OrderedDict
from collections.abc import Collection, Mapping

from antigravityd.routing.selection import NEVER, Rules, ScanSelector
from antigravityd.routing.state import AccountState

__all__ = ["IndexedSelector"]

GroupKey = tuple[int, int, int]
Where = tuple[int, GroupKey, int]  # (layer, group key, bucket)
MAX_MODEL_INDEXES = 64  # models are resolved upstream ids, but bound the memory anyway (LRU)
SMALL_POOL = 16  # up to this many accounts a plain scan is cheaper than keeping indexes (measured, see bench/)


class _Layer:
    """Accounts filed by (group key, in-flight bucket)."""

    __slots__ = ("cap", "groups", "keys")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.groups: dict[GroupKey, list[dict[str, AccountState]]] = {}
        self.keys: list[GroupKey] = []  # sorted

    def add(self, key: GroupKey, slot: int, st: AccountState) -> None:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [{} for _ in range(self.cap + 1)]
            insort(self.keys, key)
        group[slot][st.id] = st

    def discard(self, key: GroupKey, slot: int, account_id: str) -> None:
        group = self.groups[key]
        del group[slot][account_id]
        if not any(group):
            del self.groups[key]
            self.keys.remove(key)


class _ModelIndex:
    """Layer 0 holds accounts not known to be over their AIMD ceiling, layer 1 those that are (until the moment
    their rate falls back under it, computed exactly by ``Aimd.below_ratio_at``). Blocked accounts are in
    neither: they wait in ``wakes``/``heap``."""

    __slots__ = ("cap", "heap", "layers", "model", "rules", "wakes", "where")

    def __init__(self, model: str, rules: Rules, accounts: Mapping[str, AccountState]) -> None:
        self.model = model
        self.rules = rules
        self.cap = rules.settings.max_concurrent_per_account
        self.layers = (_Layer(self.cap), _Layer(self.cap))
        self.where: dict[str, Where] = {}  # filed accounts
        self.wakes: dict[str, float] = {}  # parked or over-AIMD accounts → when to look again (NEVER: on refresh)
        self.heap: list[tuple[float, str]] = []
        for st in accounts.values():
            self.place(st)

    def place(self, st: AccountState, *, recheck: bool = True) -> None:
        """(Re-)file ``st`` by its current key and in-flight count; unusable accounts are dropped.

        With ``recheck`` an account known to be over its AIMD ceiling goes back to layer 0 to be looked at
        again; without it, it stays in layer 1 (used when only its in-flight count changed).
        """
        where = self.where.get(st.id)
        if not st.enabled or st.proxy_disabled or st.removed:
            self._detach(st.id)
            return
        layer = 1 if where is not None and where[0] == 1 and not recheck else 0
        key = (st.tier, -st.percents.get(self.model, 0), -st.health_band)
        slot = st.in_flight if st.in_flight < self.cap else self.cap
        new = (layer, key, slot)
        if where == new:
            return  # nothing moved: the common case for an outcome that changed no key
        # Add before removing, so that a group that only changes bucket is not torn down and rebuilt.
        self.layers[layer].add(key, slot, st)
        if where is not None:
            self.layers[where[0]].discard(where[1], where[2], st.id)
        self.where[st.id] = new
        if layer == 0:
            self.wakes.pop(st.id, None)  # parked or set aside before: it is back in the running

    def _detach(self, account_id: str) -> None:
        where = self.where.pop(account_id, None)
        if where is not None:
            layer, key, slot = where
            self.layers[layer].discard(key, slot, account_id)
        self.wakes.pop(account_id, None)

    def _park(self, st: AccountState, wake: float, *, soft: bool) -> None:
        self._detach(st.id)
        if soft:
            key = (st.tier, -st.percents.get(self.model, 0), -st.health_band)
            slot = st.in_flight if st.in_flight < self.cap else self.cap
            self.layers[1].add(key, slot, st)
            self.where[st.id] = (1, key, slot)
        self.wakes[st.id] = wake
        if wake != NEVER:
            heapq.heappush(self.heap, (wake, st.id))

    def _wake(self, now: float, accounts: Mapping[str, AccountState]) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            wake, account_id = heapq.heappop(heap)
            if self.wakes.get(account_id) != wake:
                continue  # stale: the account was re-filed or re-parked since
            st = accounts.get(account_id)
            if st is None:
                self._detach(account_id)
            else:
                self.place(st)
        if len(heap) > 2 * len(self.wakes) + 1024:  # drop stale entries now and then
            self.heap = [(w, a) for a, w in self.wakes.items() if w != NEVER]
            heapq.heapify(self.heap)

    def best(self, exclude: Collection[str], now: float, accounts: Mapping[str, AccountState]) -> AccountState | None:
        self._wake(now, accounts)
        for layer in (0, 1):
            to_park: list[tuple[AccountState, float, bool]] = []
            found = self._search(self.layers[layer], exclude, now, to_park, check_aimd=layer == 0)
            for st, wake, soft in to_park:
                self._park(st, wake, soft=soft)
            if found is not None:
                return found
        return None

    def _search(
        self, layer: _Layer, exclude: Collection[str], now: float, to_park: list[tuple[AccountState, float, bool]],
        *, check_aimd: bool,
    ) -> AccountState | None:
        rules, model, cap = self.rules, self.model, self.cap
        max_ratio = rules.settings.aimd_max_usage_ratio
        for key in layer.keys:
            group = layer.groups[key]
            for slot in range(cap):
                bucket = group[slot]
                if not bucket:
                    continue
                for st in bucket.values():
                    if st.id in exclude:
                        continue
                    blocked = rules.blocked(st, model, now)
                    if blocked:
                        to_park.append((st, blocked, False))
                    elif check_aimd and not st.aimd.surely_within(max_ratio) and st.aimd.usage_ratio(now) > max_ratio:
                        # Look again when its rate is back under the ceiling (a hair later, against rounding).
                        to_park.append((st, st.aimd.below_ratio_at(max_ratio, now) + 1e-6, True))
                    else:
                        return st
        return None


class IndexedSelector:
    """Same contract as ``ScanSelector``: ``best`` returns the account to use, or None.

    While the pool has at most ``small_pool`` accounts it simply scans (and keeps no index to maintain); the
    indexes are built from scratch the first time a larger pool is asked for a model.
    """

    def __init__(self, accounts: Mapping[str, AccountState], rules: Rules, *, small_pool: int = SMALL_POOL) -> None:
        self._accounts = accounts
        self._rules = rules
        self._small_pool = small_pool
        self._scan = ScanSelector(accounts, rules)
        self._indexes: OrderedDict[str, _ModelIndex] = OrderedDict()

    def best(self, model: str, exclude: Collection[str], now: float) -> AccountState | None:
        if len(self._accounts) <= self._small_pool:
            if self._indexes:
                self._indexes.clear()
            return self._scan.best(model, exclude, now)
        index = self._indexes.get(model)
        if index is None:
            index = self._indexes[model] = _ModelIndex(model, self._rules, self._accounts)
            if len(self._indexes) > MAX_MODEL_INDEXES:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(model)
        return index.best(exclude, now, self._accounts)

    def refresh(self, st: AccountState, *, recheck: bool = True) -> None:
        """Re-file ``st`` after a change. ``recheck=False`` when only its in-flight count changed (an account
        known to be over its AIMD ceiling stays set aside)."""
        for index in self._indexes.values():
            index.place(st, recheck=recheck)

    def forget(self, account_id: str) -> None:
        for index in self._indexes.values():
            index._detach(account_id)

    def reset(self) -> None:
        """Settings changed (e.g. the cap): rebuild lazily."""
        self._indexes.clear()
