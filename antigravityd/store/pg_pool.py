"""A psycopg 3 sync connection pool driven from trio (DESIGN.md §3, stack-notes §4).

One unit of work (a transaction) per worker-thread call; a ``CapacityLimiter`` of the pool's size so callers wait
in trio rather than inside ``pool.connection()`` holding a thread; ``conn.cancel_safe()`` as the cancel hook and
``statement_timeout`` as the backstop for a cancel that lands between statements.

Outages: the pool checks each connection before handing it out (an empty query), replaces broken ones in its own
maintenance threads, and waits at most ``acquire_timeout`` for a connection — so while the server is down every
call fails with :class:`StoreUnavailable` within that bound, and calls succeed again once it is back, with no
action from us.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import psycopg
import psycopg.errors
import trio
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from antigravityd.store.errors import Conflict, StoreError, StoreUnavailable, ValidationError
from antigravityd.store.threads import CancelHook, run_in_worker

__all__ = ["PgPool", "translate"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def translate(e: Exception) -> StoreError:
    """Driver exceptions → the repository's error vocabulary (no driver type leaks to callers)."""
    if isinstance(e, PoolTimeout | PoolClosed):
        return StoreUnavailable(f"postgres: no connection ({e})")
    if isinstance(e, psycopg.errors.UniqueViolation):
        return Conflict(str(e).splitlines()[0])
    if isinstance(e, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        return ValidationError(str(e).splitlines()[0])
    if isinstance(e, psycopg.OperationalError | psycopg.errors.SerializationFailure):
        # connection lost, server shutting down or starting, statement timeout, recovery conflict on a replica
        return StoreUnavailable(f"postgres: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return StoreError(f"postgres: {type(e).__name__}: {e}")


def _configure(conn: psycopg.Connection, setup_sql: str) -> None:
    # UUID columns load as plain strings: our one id scheme is the canonical UUID string.
    conn.adapters.register_loader("uuid", TextLoader)
    if setup_sql:  # per-connection objects (temporary tables) the repository relies on
        conn.execute(setup_sql)
        conn.commit()


class PgPool:
    def __init__(self, conninfo: str, *, name: str, min_size: int, max_size: int, statement_timeout: float,
                 acquire_timeout: float, setup_sql: str = "") -> None:
        self.name = name
        self.acquire_timeout = acquire_timeout
        self.pool = ConnectionPool(
            conninfo,
            open=False,
            name=name,
            min_size=min_size,
            max_size=max_size,
            timeout=acquire_timeout,
            # psycopg_pool retries a lost connection with a doubling delay until reconnect_timeout (default 300 s,
            # so after a long outage the next attempt could be minutes away). Giving up early ends that chain;
            # the next request starts a fresh one at once, so recovery follows the server within seconds.
            reconnect_timeout=max(5.0, 2 * acquire_timeout),
            check=ConnectionPool.check_connection,
            configure=functools.partial(_configure, setup_sql=setup_sql),
            kwargs={
                "autocommit": False,
                "row_factory": dict_row,
                "application_name": "antigravityd",
                "connect_timeout": max(2, round(acquire_timeout)),
                # UTC sessions: hour/day buckets are UTC whatever the server's TimeZone setting.
                "options": f"-c statement_timeout={int(statement_timeout * 1000)} -c TimeZone=UTC",
                # Notice a vanished server on an idle connection within ~20 s instead of the kernel's hours.
                "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 2,
            },
        )
        self.limiter = trio.CapacityLimiter(max_size)

    async def open(self, *, wait: bool = True) -> None:
        def open_pool() -> None:
            try:
                self.pool.open(wait=wait, timeout=self.acquire_timeout)
            except (PoolTimeout, psycopg.Error) as e:
                self.pool.close(timeout=0)
                raise translate(e) from e

        await trio.to_thread.run_sync(open_pool)

    async def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """``fn(conn)`` in a worker thread inside one transaction (committed if it returns, else rolled back)."""

        def work(hook: CancelHook) -> T:
            try:
                with self.pool.connection() as conn:
                    hook.set(lambda: conn.cancel_safe(timeout=2.0))
                    try:
                        return fn(conn)
                    finally:
                        hook.clear()
            except (PoolTimeout, PoolClosed, psycopg.Error) as e:
                raise translate(e) from e

        return await run_in_worker(work, limiter=self.limiter)

    async def close(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: self.pool.close(timeout=5.0))
