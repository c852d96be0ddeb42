"""Run one blocking unit of database work in a worker thread, with cancellation that really cancels.

``trio.to_thread.run_sync`` cannot interrupt a running thread. Abandoning the thread (``abandon_on_cancel``) would
leave a query running on a pooled connection, outside any scope. Instead the worker registers how to interrupt
what it is doing (psycopg's ``conn.cancel_safe()``, sqlite3's ``conn.interrupt()``) on a :class:`CancelHook`; a
sibling task waits for trio cancellation and fires the hook, the query fails promptly inside the thread, and the
thread returns. Nothing outlives the caller's scope.

The thread's outcome is captured and unwrapped *outside* the nursery so that database errors reach the caller as
plain exceptions instead of inside an ExceptionGroup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

__all__ = ["CancelHook", "run_in_worker"]

T = TypeVar("T")


class CancelHook:
    """Where a worker thread says how to interrupt its current blocking call. Thread-safe.

    ``fired`` stays true once the hook has fired: an interrupt that lands before the blocking call has really
    started (sqlite3's ``interrupt()`` is a no-op while no statement runs) must still be seen by the worker.
    """

    __slots__ = ("_fn", "_lock", "fired")

    def __init__(self) -> None:
        self._fn: Callable[[], object] | None = None
        self._lock = threading.Lock()
        self.fired = False

    def set(self, fn: Callable[[], object]) -> None:
        with self._lock:
            self._fn = fn

    def clear(self) -> None:
        with self._lock:
            self._fn = None

    @property
    def armed(self) -> bool:
        return self._fn is not None

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            fn = self._fn
        if fn is not None:
            try:
                fn()
            except Exception:  # a failed interrupt only means the statement_timeout backstop applies
                pass


async def run_in_worker(work: Callable[[CancelHook], T], *, limiter: trio.CapacityLimiter) -> T:
    """Run ``work(hook)`` in a thread (waiting for a limiter token in trio, not in the thread)."""
    hook = CancelHook()

    async def interrupt_on_cancel() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            if not hook.armed:  # the usual case: the work finished and we are only being cleaned up
                raise
            # Shielded: the interrupt must go out even though this scope is being cancelled. It may block
            # (a libpq cancel request opens a connection), hence the thread.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(hook.fire)
            raise

    async with trio.open_nursery() as nursery:
        nursery.start_soon(interrupt_on_cancel)
        result = await outcome.acapture(trio.to_thread.run_sync, work, hook, limiter=limiter)
        nursery.cancel_scope.cancel()
    return result.unwrap()
