"""Production store: PostgreSQL through psycopg 3 pools in worker threads, with an optional streaming replica.

Writes and read-your-writes reads go to the primary. Lag-tolerant reads (monitor lists, statistics, event
history) go to the replica when one is configured; when it fails they fall back to the primary and the replica
is left alone for ``REPLICA_RETRY`` seconds (its pool keeps reconnecting in the background meanwhile).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
import trio

from antigravityd.store import migrate
from antigravityd.store import validate as v
from antigravityd.store.crypto import TokenCipher
from antigravityd.store.errors import Conflict, NotFound, StoreError, ValidationError
from antigravityd.store.models import RequestRecord
from antigravityd.store.pg_pool import PgPool, translate
from antigravityd.store.sqlrepo import Clock, SqlRepository, utc_now
from antigravityd.store.tx import PostgresDialect, Tx

__all__ = ["PostgresRepository"]

log = logging.getLogger(__name__)
T = TypeVar("T")
REPLICA_RETRY = 10.0  # seconds the replica is skipped after a failure
PURGE_CHUNK = 10_000
LISTEN_POLL = 0.25  # seconds a listener thread blocks before checking whether it should stop

# A batch is COPYed (binary: 3x cheaper than text here) into a per-connection temporary table, then one
# statement moves the new rows into requests, adds them to the rollup and returns the count. Rows already
# present (a replayed batch) are skipped by ON CONFLICT and therefore not counted twice.
_BATCH_TYPES = (("request_id", "text"), ("ts", "timestamptz"), ("account_id", "text"), ("account_email", "text"),
                ("dialect", "text"), ("path", "text"), ("requested_model", "text"), ("mapped_model", "text"),
                ("status", "int2"), ("error_class", "text"), ("tokens_in", "int4"), ("tokens_out", "int4"),
                ("tokens_cached", "int4"), ("tokens_thinking", "int4"), ("latency_ms", "int4"), ("ttfb_ms", "int4"),
                ("stream", "bool"))
_COLUMNS = ", ".join(name for name, _ in _BATCH_TYPES)
_BATCH_TABLE = ("CREATE TEMP TABLE IF NOT EXISTS request_batch ("
                + ", ".join(f"{name} {kind}" for name, kind in _BATCH_TYPES) + ") ON COMMIT DELETE ROWS")
_BATCH_COPY = f"COPY request_batch ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_INSERT_BATCH = f"""
WITH ins AS (
    INSERT INTO requests ({_COLUMNS})
    SELECT {_COLUMNS.replace("account_id", "account_id::uuid")} FROM request_batch
    ON CONFLICT (request_id) DO NOTHING
    RETURNING ts, account_id, account_email, requested_model, mapped_model, status, tokens_in, tokens_out,
              tokens_cached, tokens_thinking, latency_ms
), rows AS (
    SELECT date_trunc('hour', ts) AS hour, date_trunc('day', ts) AS day, coalesce(account_id::text, '') AS account,
           coalesce(mapped_model, requested_model, '') AS model, coalesce(account_email, '') AS email, status,
           tokens_in, tokens_out, tokens_cached, tokens_thinking, latency_ms
    FROM ins
), rolled AS (
    -- every dimension in one pass (grouping sets); GROUPING() says which set a row belongs to
    INSERT INTO request_rollup AS r (dim, hour, key, label, requests, errors, tokens_in, tokens_out, tokens_cached,
                                     tokens_thinking, latency_ms_sum)
    SELECT CASE GROUPING(hour, day, model, account)
               WHEN 7 THEN 'total' WHEN 5 THEN 'model' WHEN 6 THEN 'account' WHEN 9 THEN 'model_day'
               ELSE 'account_day' END,
           coalesce(hour, day), coalesce(model, account, ''),
           CASE WHEN GROUPING(account) = 0 THEN max(email) ELSE '' END,
           count(*), count(*) FILTER (WHERE status >= 400), sum(tokens_in), sum(tokens_out), sum(tokens_cached),
           sum(tokens_thinking), sum(latency_ms)
    FROM rows
    GROUP BY GROUPING SETS ((hour), (hour, model), (hour, account), (day, model), (day, account))
    ON CONFLICT (dim, hour, key) DO UPDATE SET
        label = CASE WHEN excluded.label = '' THEN r.label ELSE excluded.label END,
        requests = r.requests + excluded.requests, errors = r.errors + excluded.errors,
        tokens_in = r.tokens_in + excluded.tokens_in, tokens_out = r.tokens_out + excluded.tokens_out,
        tokens_cached = r.tokens_cached + excluded.tokens_cached,
        tokens_thinking = r.tokens_thinking + excluded.tokens_thinking,
        latency_ms_sum = r.latency_ms_sum + excluded.latency_ms_sum
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS inserted
"""

_ROW_VALUES = operator.attrgetter(*(name for name, _ in _BATCH_TYPES))


class PostgresRepository(SqlRepository):
    backend = "postgres"
    dialect = PostgresDialect()

    def __init__(self, primary: PgPool, replica: PgPool | None, cipher: TokenCipher, *, conninfo: str,
                 clock: Clock = utc_now) -> None:
        super().__init__(cipher, clock)
        self._primary = primary
        self._replica = replica
        self._conninfo = conninfo
        self._replica_skip_until = -float("inf")

    @classmethod
    async def open(cls, conninfo: str, cipher: TokenCipher, *, replica_url: str = "", pool_min: int = 1,
                   pool_max: int = 10, statement_timeout: float = 10.0, acquire_timeout: float = 3.0,
                   clock: Clock = utc_now) -> PostgresRepository:
        """Migrate, open the pools (the replica lazily: it may be down), check the token key."""
        try:
            await trio.to_thread.run_sync(lambda: migrate.migrate_postgres(conninfo, connect_timeout=acquire_timeout))
        except psycopg.OperationalError as e:
            raise translate(e) from e
        primary = PgPool(conninfo, name="primary", min_size=pool_min, max_size=pool_max,
                         statement_timeout=statement_timeout, acquire_timeout=acquire_timeout,
                         setup_sql=_BATCH_TABLE)
        await primary.open()
        replica = None
        if replica_url:
            replica = PgPool(replica_url, name="replica", min_size=0, max_size=pool_max,
                             statement_timeout=statement_timeout, acquire_timeout=min(acquire_timeout, 1.0))
            await replica.open(wait=False)
        repo = cls(primary, replica, cipher, conninfo=conninfo, clock=clock)
        try:
            await repo.check_token_key()
        except BaseException:
            await repo.aclose()
            raise
        return repo

    # -------------------------------------------------------------------------------------------- running work
    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        now = self._clock()
        return await self._primary.run(lambda conn: fn(Tx(conn, self.dialect, now, self._cipher), *args))

    async def _read(self, fn: Callable[..., T], *args: Any, lag_ok: bool = False) -> T:
        now = self._clock()

        def work(conn: psycopg.Connection) -> T:
            return fn(Tx(conn, self.dialect, now, self._cipher), *args)

        if lag_ok and self._replica is not None and trio.current_time() >= self._replica_skip_until:
            try:
                return await self._replica.run(work)
            except (ValidationError, NotFound, Conflict):
                raise  # the caller's problem, the primary would say the same
            except StoreError as e:
                # Down, too far behind (even on schema: a table the primary just created), or recovery
                # conflicts: the primary answers instead, and the replica gets a rest.
                self._replica_skip_until = trio.current_time() + REPLICA_RETRY
                log.warning("replica unavailable, reading from the primary for %.0f s: %s", REPLICA_RETRY, e)
        return await self._primary.run(work)

    async def ping(self) -> None:
        await self._primary.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        await self._primary.close()
        if self._replica is not None:
            await self._replica.close()

    # -------------------------------------------------------------------------------------------- request log
    async def insert_requests(self, rows: Sequence[RequestRecord]) -> int:
        if not rows:
            return 0
        rows = list(rows)

        def work(conn: psycopg.Connection) -> int:
            # Validation happens here, in the worker thread: a big batch must not hold up the trio loop.
            values = [_ROW_VALUES(v.request_record(r)) for r in rows]
            with conn.cursor().copy(_BATCH_COPY) as copy:
                copy.set_types([kind for _, kind in _BATCH_TYPES])
                for row in values:
                    copy.write_row(row)
            return conn.execute(_INSERT_BATCH).fetchone()["inserted"]

        return await self._primary.run(work)

    async def purge_requests(self, older_than: datetime) -> int:
        cutoff = v.aware(older_than, "older_than")
        total = 0
        while True:  # bounded chunks, each its own transaction: no long lock, no statement_timeout hit
            n = await self._primary.run(lambda conn: conn.execute(
                "DELETE FROM requests WHERE ctid = ANY(ARRAY(SELECT ctid FROM requests WHERE ts < %s LIMIT %s))",
                (cutoff, PURGE_CHUNK)).rowcount)
            total += n
            if n < PURGE_CHUNK:
                break
        await self._primary.run(lambda conn: conn.execute(
            "DELETE FROM request_rollup WHERE hour <= %s", (cutoff - timedelta(hours=1),)))
        return total

    # -------------------------------------------------------------------------------------------- change feed
    async def _listen(self, channel: str) -> AsyncGenerator[None, None]:
        """Yield on every notification on ``channel`` (and after each (re)connection). Survives outages."""
        backoff = 0.5
        while True:
            conn: psycopg.Connection | None = None
            try:
                conn = await trio.to_thread.run_sync(lambda: psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=3, application_name="antigravityd-listen"))
                await trio.to_thread.run_sync(conn.execute, f"LISTEN {channel}")
                backoff = 0.5
                yield None  # (re)connected: anything may have changed while we were not listening
                while True:
                    # Not interruptible, but returns within LISTEN_POLL, which bounds how long a cancel waits.
                    if await trio.to_thread.run_sync(_wait_notifies, conn):
                        yield None
            except psycopg.OperationalError as e:
                log.warning("change feed %s lost its connection (%s); retrying in %.1f s", channel, e, backoff)
            finally:
                if conn is not None:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(conn.close)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    @trio.as_safe_channel
    async def watch_accounts(self) -> AsyncGenerator[None, None]:
        async for _ in self._listen("antigravityd_accounts"):
            yield None

    @trio.as_safe_channel
    async def watch_settings(self) -> AsyncGenerator[None, None]:
        async for _ in self._listen("antigravityd_settings"):
            yield None


def _wait_notifies(conn: psycopg.Connection) -> bool:
    """Block up to LISTEN_POLL for a notification; then drain what arrives right after (one yield per burst)."""
    got = False
    for _ in conn.notifies(timeout=LISTEN_POLL, stop_after=1):
        got = True
    if got:
        for _ in conn.notifies(timeout=0.05):
            pass
    return got

