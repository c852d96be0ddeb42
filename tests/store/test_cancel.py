"""Cancelling a trio scope really stops the database work, and an unreachable server fails fast."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time

import psycopg
import pytest
import trio

from antigravityd.store import StoreUnavailable, open_repository
from antigravityd.store.pg_pool import PgPool
from antigravityd.store.sqlite import _arm, _disarm
from antigravityd.store.threads import run_in_worker
from tests.support import pg


def active_sleeps(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' "
                            "AND state = 'active' AND pid <> pg_backend_pid()").fetchone()[0]


@pytest.mark.postgres
async def test_cancel_stops_the_query_on_the_server(pg_dsn):
    pool = PgPool(pg_dsn, name="t", min_size=1, max_size=2, statement_timeout=60, acquire_timeout=3)
    await pool.open()
    try:
        started = trio.Event()

        async def sleeper():
            with trio.CancelScope() as scope:
                started.set()
                await pool.run(lambda c: c.execute("SELECT pg_sleep(30)").fetchone())
            assert scope.cancelled_caught

        with trio.fail_after(10):  # the sleep is 30 s: finishing at all means it was interrupted
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sleeper)
                await started.wait()
                while not await trio.to_thread.run_sync(active_sleeps, pg_dsn):
                    await trio.sleep(0.01)  # poll until the query is really running
                nursery.cancel_scope.cancel()
        assert await trio.to_thread.run_sync(active_sleeps, pg_dsn) == 0
        assert await pool.run(lambda c: c.execute("SELECT 41 + 1 AS v").fetchone()["v"]) == 42  # pool healthy
    finally:
        await pool.close()


@pytest.mark.postgres
async def test_statement_timeout_is_store_unavailable(pg_dsn):
    pool = PgPool(pg_dsn, name="t", min_size=1, max_size=1, statement_timeout=0.2, acquire_timeout=3)
    await pool.open()
    try:
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            await pool.run(lambda c: c.execute("SELECT pg_sleep(30)"))
        assert await pool.run(lambda c: c.execute("SELECT 1 AS v").fetchone()["v"]) == 1
    finally:
        await pool.close()


@pytest.mark.parametrize("cancel_lands", ["while the statement runs", "before the statement starts"])
async def test_cancel_stops_sqlite_work(tmp_path, cancel_lands):
    """Before the statement starts, ``interrupt()`` alone is a no-op: unhandled, the endless query would run on in
    its thread and the cancelled task could never return."""
    conn = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
    reached = trio.Event()
    token = trio.lowlevel.current_trio_token()
    conn.create_function("started", 0, lambda: token.run_sync_soon(reached.set) or 1)
    seed = "started()" if cancel_lands == "while the statement runs" else "1"
    endless = f"WITH RECURSIVE n(i) AS (SELECT {seed} UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    rescued = threading.Event()

    def work(hook):
        _arm(conn, hook)
        try:
            if cancel_lands == "before the statement starts":
                token.run_sync_soon(reached.set)
                while not hook.fired:  # hold the window open until the cancel has come and gone
                    time.sleep(0.001)
            # Only a stuck query reaches this backstop; it frees the thread so the test fails instead of hanging.
            backstop = threading.Timer(10, lambda: (rescued.set(), conn.interrupt()))
            backstop.start()
            try:
                return conn.execute(endless).fetchone()
            finally:
                backstop.cancel()
        finally:
            _disarm(conn, hook)

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(run_in_worker, work, limiter=trio.CapacityLimiter(1)))
            await reached.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert not rescued.is_set()
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable afterwards


async def test_unreachable_postgres_fails_fast(tmp_path):
    with trio.fail_after(20):
        with pytest.raises(StoreUnavailable):
            await open_repository(pg.dsn(pg.free_port()), data_dir=tmp_path, acquire_timeout=1)
