"""Sticky sessions: keep one conversation on one account, so that Google's prompt cache keeps working.

A binding maps a session id (derived from the conversation, see the pipeline) to an account id. The rules:

* a request of a bound session goes to the bound account while that account is eligible for it;
* **a 429 migrates only the request**: the retry goes elsewhere (the pipeline excludes the failed account) but the
  binding stays, so the next turn returns to the account that holds the cache once its short lock is over;
* the binding is dropped after ``failure_threshold`` (3) consecutive failures on the bound account, when the bound
  account is locked for longer than ``long_lock`` (5 min — waiting would cost more than a cold cache), or when it
  is disabled, removed or quota-protected for the model;
* ultra-tier accounts override stickiness (the pool decides that; see ``pool.py``).

Bindings are bounded (least recently used evicted first, 10,000 by default). Pure: no clock is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["SessionBindings", "SessionPolicy"]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    max_bindings: int = 10_000
    failure_threshold: int = 3
    long_lock: float = 300.0


class SessionBindings:
    __slots__ = ("_bindings", "_failures", "policy")

    def __init__(self, policy: SessionPolicy | None = None) -> None:
        self.policy = policy or SessionPolicy()
        self._bindings: OrderedDict[str, str] = OrderedDict()
        self._failures: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._bindings)

    def get(self, session_id: str) -> str | None:
        """The bound account id (and mark the binding recently used)."""
        account_id = self._bindings.get(session_id)
        if account_id is not None:
            self._bindings.move_to_end(session_id)
        return account_id

    def bind(self, session_id: str, account_id: str) -> None:
        if self._bindings.get(session_id) != account_id:
            self._failures.pop(session_id, None)
        self._bindings[session_id] = account_id
        self._bindings.move_to_end(session_id)
        while len(self._bindings) > self.policy.max_bindings:
            evicted, _ = self._bindings.popitem(last=False)
            self._failures.pop(evicted, None)

    def unbind(self, session_id: str) -> None:
        self._bindings.pop(session_id, None)
        self._failures.pop(session_id, None)

    def unbind_account(self, account_id: str) -> int:
        """Drop every binding to ``account_id`` (it was removed or disabled); returns how many."""
        gone = [sid for sid, acc in self._bindings.items() if acc == account_id]
        for sid in gone:
            self.unbind(sid)
        return len(gone)

    def record_failure(self, session_id: str, account_id: str) -> bool:
        """A failure of this session's request on ``account_id``; True when it unbound the session."""
        if self._bindings.get(session_id) != account_id:
            return False  # a migrated request failing elsewhere says nothing about the binding
        count = self._failures.get(session_id, 0) + 1
        if count >= self.policy.failure_threshold:
            self.unbind(session_id)
            return True
        self._failures[session_id] = count
        return False

    def record_success(self, session_id: str, account_id: str) -> None:
        if self._bindings.get(session_id) == account_id:
            self._failures.pop(session_id, None)

    def failures(self, session_id: str) -> int:
        return self._failures.get(session_id, 0)

    def clear(self) -> int:
        count = len(self._bindings)
        self._bindings.clear()
        self._failures.clear()
        return count

    def counts_by_account(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for account_id in self._bindings.values():
            counts[account_id] = counts.get(account_id, 0) + 1
        return counts
