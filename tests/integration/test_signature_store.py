"""The store-backed signature cache on a real SQLite store: persistence across instances (a restart), prefetch
limits and negative caching, the background writer, and what an unreachable store does."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from prometheus_client import CollectorRegistry, Counter

from antigravityd.pipeline import signatures as module
from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.store import StoreUnavailable, open_repository
from antigravityd.translate.signature_cache import SeenSignature

SIG = "E" + "s" * 80
SIG2 = "R" + "t" * 80


@pytest.fixture
async def repo(tmp_path: Path):
    repository = await open_repository("", data_dir=tmp_path)
    try:
        yield repository
    finally:
        await repository.aclose()


def counter() -> Counter:
    return Counter("sig", "test", ["kind", "result"], registry=CollectorRegistry())


def value(c: Counter, kind: str, result: str) -> float:
    return c.labels(kind, result)._value.get()


async def test_remembered_signatures_survive_a_new_instance(repo) -> None:
    first = StoredSignatureCache(repo)
    first.remember([SeenSignature("tool_call", "toolu_1", SIG, "gemini"),
                    SeenSignature("call", "fc-abc", SIG, "gemini"),
                    SeenSignature("content", "ch-1", SIG2, "claude"),
                    SeenSignature("session", "sid-1", SIG2, "claude")])
    assert first.pending == 4
    await first.flush()
    assert first.pending == 0

    c = counter()
    second = StoredSignatureCache(repo, counter=c)  # what a restarted daemon starts with: nothing in memory
    assert second.get("tool_call", "toolu_1", "gemini") is None
    found = await second.prefetch([("tool_call", "toolu_1"), ("call", "fc-abc"), ("content", "ch-1"),
                                   ("session", "sid-1"), ("tool_call", "unknown")])
    assert found == 4
    assert second.get("tool_call", "toolu_1", "gemini") == SIG
    assert second.get("call", "fc-abc", "gemini") == SIG  # stored as tool_call, found again as call
    assert second.get("content", "ch-1", "claude") == SIG2 and second.get("content", "ch-1", "gemini") is None
    assert second.family_of(SIG2) == "claude"
    assert value(c, "tool_call", "hit") == 1 and value(c, "tool_call", "miss") == 1


async def test_misses_are_remembered_and_lookups_bounded(repo, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StoredSignatureCache(repo)
    lookups = 0
    real = repo.get_signature

    async def counting(kind, key):
        nonlocal lookups
        lookups += 1
        return await real(kind, key)

    monkeypatch.setattr(repo, "get_signature", counting)
    await cache.prefetch([("tool_call", f"id{i}") for i in range(module.MAX_PREFETCH + 10)])
    assert lookups == module.MAX_PREFETCH
    await cache.prefetch([("tool_call", f"id{i}") for i in range(module.MAX_PREFETCH)])
    assert lookups == module.MAX_PREFETCH  # known misses are not asked again
    cache.remember([SeenSignature("tool_call", "id3", SIG, "gemini")])  # a later answer issues one: no longer a miss
    assert cache.get("tool_call", "id3", "gemini") == SIG


async def test_background_writer_persists_soon(repo) -> None:
    cache = StoredSignatureCache(repo)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cache.run)
        await trio.testing.wait_all_tasks_blocked()
        assert cache.writer_running
        cache.remember([SeenSignature("session", "sid-w", SIG, "gemini")])
        with trio.fail_after(10):
            while cache.pending:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert not cache.writer_running
    assert (await repo.get_signature("session", "sid-w")).signature == SIG


async def test_an_unreachable_store_keeps_records_for_later(repo) -> None:
    class Down:
        async def get_signature(self, kind, key):
            raise StoreUnavailable("down")

        async def put_signature(self, *a):
            raise StoreUnavailable("down")

        async def put_signatures(self, *a):
            raise StoreUnavailable("down")

    cache = StoredSignatureCache(Down())  # type: ignore[arg-type]
    cache.remember([SeenSignature("session", "s", SIG, "gemini")])
    await cache.flush()
    assert cache.pending == 1  # kept for the next try
    assert await cache.prefetch([("session", "x")]) == 0  # translation goes on with what memory has
    assert cache.get("session", "s", "gemini") == SIG
    cache.repo = repo
    await cache.flush()
    assert cache.pending == 0 and (await repo.get_signature("session", "s")).signature == SIG


async def test_an_outage_while_writing_one_by_one_keeps_the_unwritten_records(repo) -> None:
    """A batch with an oversized record is written record by record; the store going down half-way must not lose
    the records not yet written."""

    class GoesDown:
        def __init__(self) -> None:
            self.writes = 0

        async def put_signatures(self, rows):
            await repo.put_signatures(rows)  # the real store refuses the whole batch (one record is oversized)

        async def put_signature(self, *record):
            self.writes += 1
            if self.writes > 2:
                raise StoreUnavailable("down")
            await repo.put_signature(*record)

    cache = StoredSignatureCache(GoesDown())  # type: ignore[arg-type]
    cache.remember([SeenSignature("session", "first", SIG, "gemini"),
                    SeenSignature("session", "oversized", "x" * 1_000_000, "gemini"),
                    SeenSignature("session", "third", SIG, "gemini"),
                    SeenSignature("session", "fourth", SIG2, "gemini")])
    await cache.flush()
    assert (await repo.get_signature("session", "first")).signature == SIG
    assert cache.pending == 2  # third and fourth; the oversized one was refused for good
    cache.repo = repo
    await cache.flush()
    assert cache.pending == 0
    assert (await repo.get_signature("session", "third")).signature == SIG
    assert (await repo.get_signature("session", "fourth")).signature == SIG2
