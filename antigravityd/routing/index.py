"""The indexed selector: pick the best eligible account in (near) constant time, however large the pool.

A plain scan looks at every account for every request (≈1 µs each: 1 ms at 1,000 accounts). Instead, each model
that has been asked for gets a :class:`_ModelIndex`:

* accounts are grouped by the slow-moving part of the order key — (tier, −quota percent for this model,
  −health band) — and the group keys are kept sorted;
* inside a group, accounts sit in one bucket per in-flight count (0 … cap−1, plus a "full" bucket that is never
  searched), each bucket in least-recently-moved order, which gives least-connections with an LRU tie-break;
* an account found **blocked** during a search (locked, circuit open, protected, probe out) is *parked*: taken out
  of the buckets and put on a wake-up heap at the time its block ends (or held until an event if waiting alone
  will not end it). Accounts over their AIMD ceiling are parked for a second in a separate set, which is only
  searched when nothing else is eligible (AIMD is a soft filter, see ``selection.py``).

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

from antigravityd.routing.selection import NEVER, Rules, order_key
from antigravityd.routing.state import AccountState

__all__ = ["IndexedSelector"]

GroupKey = tuple[int, int, int]
SOFT_RECHECK = 1.0  # seconds an account over its AIMD ceiling sits out before it is looked at again
MAX_MODEL_INDEXES = 64  # models are resolved upstream ids, but bound the memory anyway (LRU)


class _ModelIndex:
    __slots__ = ("cap", "groups", "heap", "keys", "model", "parked", "rules", "soft", "where")

    def __init__(self, model: str, rules: Rules, accounts: Mapping[str, AccountState]) -> None:
        self.model = model
        self.rules = rules
        self.cap = rules.settings.max_concurrent_per_account
        self.groups: dict[GroupKey, list[dict[str, AccountState]]] = {}
        self.keys: list[GroupKey] = []  # sorted
        self.where: dict[str, tuple[GroupKey, int]] = {}  # filed accounts: (group, bucket)
        self.parked: dict[str, float] = {}  # account id → wake time (NEVER: on the next refresh only)
        self.soft: dict[str, AccountState] = {}  # parked for AIMD (a subset of ``parked``)
        self.heap: list[tuple[float, str]] = []
        for st in accounts.values():
            self.place(st)

    def place(self, st: AccountState) -> None:
        """(Re-)file ``st`` by its current key and in-flight count; unusable accounts are dropped."""
        self._detach(st.id)
        if not st.usable:
            return
        key = (st.tier, -st.percents.get(self.model, 0), -st.health_band)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [{} for _ in range(self.cap + 1)]
            insort(self.keys, key)
        slot = st.in_flight if st.in_flight < self.cap else self.cap
        group[slot][st.id] = st
        self.where[st.id] = (key, slot)

    def _detach(self, account_id: str) -> None:
        where = self.where.pop(account_id, None)
        if where is not None:
            key, slot = where
            group = self.groups[key]
            del group[slot][account_id]
            if not any(group):
                del self.groups[key]
                self.keys.remove(key)
        elif self.parked.pop(account_id, None) is not None:
            self.soft.pop(account_id, None)

    def _park(self, st: AccountState, wake: float, *, soft: bool) -> None:
        self._detach(st.id)
        self.parked[st.id] = wake
        if soft:
            self.soft[st.id] = st
        if wake != NEVER:
            heapq.heappush(self.heap, (wake, st.id))

    def _wake(self, now: float, accounts: Mapping[str, AccountState]) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            wake, account_id = heapq.heappop(heap)
            if self.parked.get(account_id) != wake:
                continue  # stale: the account was re-filed or re-parked since
            st = accounts.get(account_id)
            if st is None:
                self._detach(account_id)
            else:
                self.place(st)
        if len(heap) > 2 * len(self.parked) + 1024:  # drop stale entries now and then
            self.heap = [(w, a) for a, w in self.parked.items() if w != NEVER]
            heapq.heapify(self.heap)

    def best(self, exclude: Collection[str], now: float, accounts: Mapping[str, AccountState]) -> AccountState | None:
        self._wake(now, accounts)
        rules, model = self.rules, self.model
        found: AccountState | None = None
        to_park: list[tuple[AccountState, float, bool]] = []
        for key in self.keys:
            group = self.groups[key]
            for slot in range(self.cap):
                bucket = group[slot]
                if not bucket:
                    continue
                for st in bucket.values():
                    if st.id in exclude:
                        continue
                    blocked = rules.blocked(st, model, now)
                    if blocked:
                        to_park.append((st, blocked, False))
                    elif rules.aimd_over(st, now):
                        to_park.append((st, now + SOFT_RECHECK, True))
                    else:
                        found = st
                        break
                if found is not None:
                    break
            if found is not None:
                break
        for st, wake, soft in to_park:
            self._park(st, wake, soft=soft)
        if found is None and self.soft:
            found = self._best_soft(exclude, now)
        return found

    def _best_soft(self, exclude: Collection[str], now: float) -> AccountState | None:
        """Nothing under its AIMD ceiling is eligible: take the best of those over it (slow path)."""
        rules, model = self.rules, self.model
        best: AccountState | None = None
        best_key = None
        for st in self.soft.values():
            if st.id in exclude or not rules.has_room(st) or rules.blocked(st, model, now):
                continue
            key = order_key(st, model)
            if best_key is None or key < best_key:
                best, best_key = st, key
        return best


class IndexedSelector:
    """Same contract as ``ScanSelector``: ``best`` returns the account to use, or None."""

    def __init__(self, accounts: Mapping[str, AccountState], rules: Rules) -> None:
        self._accounts = accounts
        self._rules = rules
        self._indexes: OrderedDict[str, _ModelIndex] = OrderedDict()

    def best(self, model: str, exclude: Collection[str], now: float) -> AccountState | None:
        index = self._indexes.get(model)
        if index is None:
            index = self._indexes[model] = _ModelIndex(model, self._rules, self._accounts)
            if len(self._indexes) > MAX_MODEL_INDEXES:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(model)
        return index.best(exclude, now, self._accounts)

    def refresh(self, st: AccountState) -> None:
        for index in self._indexes.values():
            index.place(st)

    def forget(self, account_id: str) -> None:
        for index in self._indexes.values():
            index._detach(account_id)

    def reset(self) -> None:
        """Settings changed (e.g. the cap): rebuild lazily."""
        self._indexes.clear()
