"""A lease: the right to send one request to one account, holding one of its concurrency slots.

:meth:`AccountPool.select` takes the slot (and, for a half-open circuit, the single probe slot) in the same
synchronous call that chose the account — under Trio nothing can run in between, so the cap can never be
overshot. Releasing is idempotent, and a lease is a context manager, so the pipeline writes::

    with pool.select(...) as lease:   # after checking it is not Unavailable
        ...stream the response...

and the slot comes back on every path: success, failure, client disconnect, cancellation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from antigravityd.routing.pool import AccountPool
    from antigravityd.routing.state import AccountState

__all__ = ["Lease"]


class Lease:
    __slots__ = ("_pool", "_released", "_state", "account_id", "acquired_at", "email", "model", "probe", "session_id")

    def __init__(
        self, pool: AccountPool, state: AccountState, model: str, *, session_id: str | None, probe: bool, now: float
    ) -> None:
        self._pool = pool
        self._state = state
        self._released = False
        self.account_id = state.id
        self.email = state.email
        self.model = model
        self.session_id = session_id
        self.probe = probe  # this request is the half-open circuit's single probe
        self.acquired_at = now

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give the slot back. Safe to call any number of times."""
        if self._released:
            return
        self._released = True
        self._pool._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<Lease {self.email} {self.model} {state}{' probe' if self.probe else ''}>"
