"""PostgreSQL under real trouble: throwaway clusters that the tests stop and start.

- outage: the server goes away while rows are being recorded and comes back; every row arrives;
- clean shutdown while the server is down, then a restart: the spill file carries every row across;
- replica: stats are read from a streaming replica, and from the primary once the replica is stopped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import trio
from prometheus_client import CollectorRegistry

from antigravityd.monitor.recorder import RequestLogWriter
from antigravityd.store import AccountDraft, RequestRecord, StoreUnavailable, open_repository
from tests.support import pg

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(not pg.binaries_available(), reason="needs PostgreSQL server binaries")]

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def row(i: int) -> RequestRecord:
    return RequestRecord(request_id=str(uuid.uuid4()), ts=T0 + timedelta(seconds=i % 3000), dialect="anthropic",
                         path="/v1/messages", status=200, mapped_model="claude-sonnet-4-6", tokens_in=10)


def count_rows(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    except psycopg.OperationalError:
        return -1


async def wait_for(predicate, timeout: float = 60.0) -> None:
    with trio.fail_after(timeout):
        while not await predicate():
            await trio.sleep(0.05)


@pytest.fixture
def cluster():
    with pg.cluster_set() as cs:
        yield cs


async def test_outage_loses_no_row(cluster, tmp_path):
    primary = cluster.primary()
    repo = await open_repository(primary.dsn(), data_dir=tmp_path, acquire_timeout=1, statement_timeout=5)
    writer = RequestLogWriter(repo, spill_path=tmp_path / "requests.spill", queue_max=400, flush_interval=0.05,
                              batch_max=50, retry_max=0.5, registry=CollectorRegistry())
    total = 0

    async def produce(n: int) -> None:
        nonlocal total
        for _ in range(n):
            writer.record(row(total))
            total += 1
            if total % 20 == 0:
                await trio.sleep(0.005)  # traffic arrives over time, not in one instant

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await produce(500)
            await wait_for(lambda: trio.to_thread.run_sync(lambda: count_rows(primary.dsn()) == 500))

            await trio.to_thread.run_sync(primary.stop)  # the database goes away while traffic continues
            await produce(300)
            await wait_for(lambda: _true(writer.stats.failures > 0))
            with pytest.raises(StoreUnavailable):
                await repo.ping()  # fails fast instead of hanging
            await produce(700)  # past the queue's high-water mark: rows go to the spill file
            await wait_for(lambda: _true(writer.stats.spilled > 0))

            await trio.to_thread.run_sync(primary.start)  # ... and comes back
            await wait_for(lambda: trio.to_thread.run_sync(lambda: count_rows(primary.dsn()) == total))
            await repo.ping()  # the pool reconnected by itself
            await writer.flush_and_close()
        assert total == 1500 and writer.stats.dropped == 0
        assert writer.stats.written == total and writer.stats.replayed == writer.stats.spilled > 0
        assert (await repo.token_totals(since=T0)).requests == total  # the rollup agrees
    finally:
        await repo.aclose()


async def _true(value: bool) -> bool:
    return value


async def test_clean_shutdown_with_the_database_down(cluster, tmp_path):
    primary = cluster.primary()
    spill = tmp_path / "requests.spill"
    repo = await open_repository(primary.dsn(), data_dir=tmp_path, acquire_timeout=1)
    writer = RequestLogWriter(repo, spill_path=spill, close_timeout=3, registry=CollectorRegistry())
    for i in range(250):
        writer.record(row(i))
    await trio.to_thread.run_sync(primary.stop)
    await writer.flush_and_close()  # the database is down: everything goes to the spill file
    await repo.aclose()
    assert writer.stats.spilled == 250 and writer.stats.dropped == 0

    await trio.to_thread.run_sync(primary.start)  # "restart the daemon"
    repo = await open_repository(primary.dsn(), data_dir=tmp_path, acquire_timeout=1)
    try:
        writer = RequestLogWriter(repo, spill_path=spill, flush_interval=0.05, registry=CollectorRegistry())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await wait_for(lambda: trio.to_thread.run_sync(lambda: count_rows(primary.dsn()) == 250))
            await writer.flush_and_close()
        assert writer.stats.replayed == 250 and not spill.exists()
    finally:
        await repo.aclose()


def rollup_scans(dsn: str) -> int:
    """How often request_rollup was scanned on this server (a standby keeps its own counters)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                            "WHERE relname = 'request_rollup'").fetchone()[0]


async def test_replica_reads_and_fallback(cluster, tmp_path):
    primary = cluster.primary()
    replica = cluster.replica(primary)
    repo = await open_repository(primary.dsn(), replica_url=replica.dsn(), data_dir=tmp_path, acquire_timeout=1)
    try:
        a = await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
        assert await repo.get_account(a.id) == a  # read-your-writes: served by the primary at once
        await repo.insert_requests([row(i) for i in range(40)])

        def replica_rows() -> int:
            try:
                with psycopg.connect(replica.dsn()) as conn:
                    return conn.execute("SELECT coalesce(sum(requests), 0) FROM request_rollup "
                                        "WHERE dim = 'total'").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                return 0  # the schema itself has not replicated yet

        await wait_for(lambda: trio.to_thread.run_sync(lambda: replica_rows() == 40))
        scans_before = await trio.to_thread.run_sync(rollup_scans, replica.dsn())
        assert (await repo.token_totals(since=T0)).requests == 40
        # the statistics query ran on the replica (its counters are flushed lazily, hence the polling)
        await wait_for(lambda: trio.to_thread.run_sync(lambda: rollup_scans(replica.dsn()) > scans_before), 15)
        assert [e.kind for e in await repo.events(account_id=a.id)] == ["account_created"]

        await trio.to_thread.run_sync(replica.kill)
        with trio.fail_after(10):  # falls back to the primary without waiting for a dead replica each time
            for _ in range(5):
                assert (await repo.token_totals(since=T0)).requests == 40
                assert len(await repo.recent_requests(limit=100)) == 40
        await repo.insert_requests([row(i) for i in range(5)])
        assert (await repo.token_totals(since=T0)).requests == 45  # primary answers: no lag at all now
    finally:
        await repo.aclose()


async def test_replica_down_at_start_is_not_fatal(cluster, tmp_path):
    primary = cluster.primary()
    repo = await open_repository(primary.dsn(), replica_url=pg.dsn(pg.free_port()), data_dir=tmp_path,
                                 acquire_timeout=1)
    try:
        await repo.insert_requests([row(1)])
        assert (await repo.token_totals(since=T0)).requests == 1
    finally:
        await repo.aclose()


async def test_change_feed_survives_a_server_restart(cluster, tmp_path):
    primary = cluster.primary()
    repo = await open_repository(primary.dsn(), data_dir=tmp_path, acquire_timeout=1)
    try:
        async with repo.watch_accounts() as changes:
            with trio.fail_after(60):
                await changes.receive()  # the initial load
                await trio.to_thread.run_sync(primary.stop)
                await trio.to_thread.run_sync(primary.start)
                await changes.receive()  # reconnected: changes may have been missed, so it says "reload"
                while True:  # the pool comes back by itself; poll until it has
                    try:
                        await repo.ping()
                        break
                    except StoreUnavailable:
                        await trio.sleep(0.05)
                await repo.create_account(AccountDraft(email="after@example.com", refresh_token="1//a"))
                await changes.receive()
    finally:
        await repo.aclose()
