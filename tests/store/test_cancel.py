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


async def test_cancel_interrupts_sqlite(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    running = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def work(hook):
        _arm(conn, hook)
        try:
            token.run_sync_soon(running.set)
            return conn.execute(endless).fetchone()
        finally:
            _disarm(conn, hook)

    with trio.fail_after(10):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(functools.partial(run_in_worker, work, limiter=trio.CapacityLimiter(1)))
                await running.wait()
                scope.cancel()
    assert scope.cancelled_caught
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable afterwards


async def test_a_cancel_before_the_sqlite_statement_starts_still_stops_it(tmp_path):
    """The cancel lands after the worker armed its hook but before the statement runs, where ``interrupt()`` is
    a no-op. Unhandled, the endless query would run on in its thread and the task could never return."""
    conn = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    armed = trio.Event()
    token = trio.lowlevel.current_trio_token()
    rescued = threading.Event()

    def work(hook):
        _arm(conn, hook)
        try:
            token.run_sync_soon(armed.set)
            while not hook.fired:  # hold the window open until the cancel has come and gone
                time.sleep(0.001)
            # Only a stuck query reaches this backstop; it unblocks the thread so the test fails instead of hanging.
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
            await armed.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert not rescued.is_set()
    assert conn.execute("SELECT 1").fetchone() == (1,)


async def test_unreachable_postgres_fails_fast(tmp_path):
    with trio.fail_after(20):
        with pytest.raises(StoreUnavailable):
            await open_repository(pg.dsn(pg.free_port()), data_dir=tmp_path, acquire_timeout=1)
