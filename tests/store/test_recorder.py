"""The request-log writer on both backends: batching, close, drops, and a SQLite "outage" (a lock held by
another process) that forces the spill file."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
import trio
from prometheus_client import CollectorRegistry

from antigravityd.monitor.recorder import RequestLogWriter
from antigravityd.monitor.spill import SpillFile
from antigravityd.store import RequestRecord, sqlite_path

T0 = datetime(2030, 3, 1, tzinfo=UTC)


def row(i: int = 0, **kw) -> RequestRecord:
    fields = dict(request_id=str(uuid.uuid4()), ts=T0, dialect="openai", path="/v1/chat/completions", status=200,
                  mapped_model="m", tokens_in=i)
    return RequestRecord(**(fields | kw))


async def stored(repo) -> int:
    return (await repo.token_totals(since=T0)).requests


async def wait_until(predicate, timeout: float = 30.0) -> None:
    """Poll an async condition with a deadline."""
    with trio.fail_after(timeout):
        while not await predicate():
            await trio.sleep(0.02)


def make_writer(repo, tmp_path, **kw) -> RequestLogWriter:
    kw.setdefault("flush_interval", 0.05)
    return RequestLogWriter(repo, spill_path=tmp_path / "requests.spill", registry=CollectorRegistry(), **kw)


async def test_rows_are_written_in_batches(repo, tmp_path):
    writer = make_writer(repo, tmp_path, batch_max=7)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        for i in range(50):
            writer.record(row(i))
        await wait_until(lambda: _eq(stored(repo), 50))
        await writer.flush_and_close()
    assert writer.stats.written == 50 and writer.stats.dropped == 0 and writer.queued == 0


async def _eq(coro, n: int) -> bool:
    return await coro == n


async def test_close_flushes_without_run(repo, tmp_path):
    writer = make_writer(repo, tmp_path)
    for i in range(10):
        writer.record(row(i))
    await writer.flush_and_close()
    assert await stored(repo) == 10
    writer.record(row())  # too late: counted, not silently lost
    assert writer.stats.dropped == 1


async def test_malformed_rows_are_dropped_and_counted(repo, tmp_path):
    registry = CollectorRegistry()
    writer = RequestLogWriter(repo, spill_path=tmp_path / "s", registry=registry)
    writer.record(row(status=-5))
    writer.record(row(account_id="bad"))
    writer.record("not a row")  # type: ignore[arg-type]
    writer.record(row())
    await writer.flush_and_close()
    assert writer.stats.dropped == 3 and await stored(repo) == 1
    assert registry.get_sample_value("antigravityd_request_log_dropped_total") == 3


async def test_queue_bound_counts_drops(repo, tmp_path):
    writer = make_writer(repo, tmp_path, queue_max=10)
    for i in range(15):
        writer.record(row(i))
    assert writer.queued == 10 and writer.stats.dropped == 5


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_lock_outage_spills_and_recovers(open_repo, data_dir, tmp_path):
    async with open_repo(statement_timeout=0.2) as repo:
        await repo.ping()
        blocker = sqlite3.connect(sqlite_path(data_dir), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database: writes fail after busy_timeout
        writer = make_writer(repo, tmp_path, queue_max=20, batch_max=5, retry_max=0.2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            with trio.fail_after(30):
                for i in range(60):  # requests keep arriving, at a pace the spill keeps up with
                    writer.record(row(i))
                    while writer.queued >= 15:
                        await trio.sleep(0.01)
                while writer.stats.spilled == 0 or writer.stats.failures == 0:
                    await trio.sleep(0.01)
            assert sum(1 for _ in SpillFile(tmp_path / "requests.spill", max_bytes=1 << 30).iter_all()) > 0
            blocker.execute("ROLLBACK")
            blocker.close()
            await wait_until(lambda: _eq(stored(repo), 60))
            await writer.flush_and_close()
        assert writer.stats.dropped == 0 and writer.stats.replayed == writer.stats.spilled
        assert not SpillFile(tmp_path / "requests.spill", max_bytes=1).pending()


async def test_spill_survives_a_restart(repo, tmp_path):
    spill = SpillFile(tmp_path / "requests.spill", max_bytes=1 << 20)
    rows = [row(i) for i in range(30)]
    spill.append(rows[:20])
    spill.start_replay()  # as if a previous process crashed mid-replay ...
    spill.append(rows[20:])  # ... after spilling more
    with (tmp_path / "requests.spill").open("ab") as f:
        f.write(b'{"torn": ')  # and a torn last line
    await repo.insert_requests(rows[:5])  # part of it had reached the database already
    writer = make_writer(repo, tmp_path)
    await writer.flush_and_close()
    assert await stored(repo) == 30 and writer.stats.dropped == 1 and not spill.pending()


async def test_from_config(repo, tmp_path):
    from antigravityd.config_loading import load_config

    config = load_config(tmp_path / "absent.toml", environ={}, overrides={
        "data_dir": str(tmp_path / "d"), "database.request_log_queue": 1234,
        "database.request_log_flush_interval": 0.5})
    writer = RequestLogWriter.from_config(repo, config, registry=CollectorRegistry())
    assert (writer.queue_max, writer.flush_interval) == (1234, 0.5)
    writer.record(row())
    await writer.flush_and_close()
    assert await stored(repo) == 1
