"""LWW mapping sync: the wire format and diff (pure, with properties), single rounds between a local store and a
daemon over real HTTP, and two real daemons converging on their own — deletes included."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.store import ModelMapping, open_repository
from antigravityd.sync.lww import MappingSync
from antigravityd.sync.wire import MAX_FUTURE_MS, WireError, decode, encode, outbound
from tests.admin.harness import client, start_admin_daemon, wait_until
from tests.support.daemon import TEST_API_KEY

NOW_MS = 1_800_000_000_000

# ---------------------------------------------------------------------------------------------------- wire


def test_decode_keeps_good_entries_and_counts_bad_ones():
    doc = {"instance_id": "vps-1", "entries": {
        "a": {"target": "gemini-3-flash", "updated_at": 5, "deleted": False},
        "b": {"target": "", "updated_at": 6, "deleted": True},
        "c": {"target": "", "updated_at": 7, "deleted": False},  # the seed's tombstone-as-mapping: refused
        "d": {"target": "x", "updated_at": "7"},
        "e": {"target": "x", "updated_at": NOW_MS + MAX_FUTURE_MS + 1},  # a clock far ahead must not win forever
        "f": "nonsense",
    }}
    entries, rejected, instance = decode(doc, now_ms=NOW_MS)
    assert instance == "vps-1" and rejected == 4
    assert entries == [ModelMapping("a", "gemini-3-flash", 5), ModelMapping("b", "", 6, True)]
    with pytest.raises(WireError):
        decode({"entries": []}, now_ms=NOW_MS)
    with pytest.raises(WireError):
        decode({"entries": {str(i): {} for i in range(11)}}, now_ms=NOW_MS, max_entries=10)


mappings = st.builds(ModelMapping, key=st.sampled_from(["a", "b", "c", "d"]),
                     target=st.sampled_from(["m1", "m2", "m3"]), updated_at=st.integers(0, 20), deleted=st.booleans())


def lww(*stores: list[ModelMapping]) -> dict[str, ModelMapping]:
    best: dict[str, ModelMapping] = {}
    for store in stores:
        for m in store:
            if m.deleted:
                m = ModelMapping(m.key, "", m.updated_at, True)
            if m.beats(best.get(m.key)):
                best[m.key] = m
    return best


@given(st.lists(mappings, max_size=12), st.lists(mappings, max_size=12))
def test_one_round_converges(local_edits, remote_edits):
    """Property: pull + merge + push of the entries the remote lacks leaves both sides with the same winners."""
    local, remote = lww(local_edits), lww(remote_edits)
    local_after = lww(list(local.values()), list(remote.values()))
    push = outbound(local_after.values(), remote.values())
    remote_after = lww(list(remote.values()), push)
    assert local_after == remote_after == lww(local_edits + remote_edits)
    assert all(m.beats(remote.get(m.key)) for m in push)  # nothing useless is sent


@given(st.lists(mappings, max_size=20))
def test_wire_round_trip(edits):
    entries = list(lww(edits).values())
    decoded, rejected, _ = decode(encode(entries, "x"), now_ms=NOW_MS)
    assert rejected == 0 and decoded == entries


# ---------------------------------------------------------------------------------------------------- rounds


@pytest.fixture(scope="module")
def remote(fake, tmp_path_factory):
    d = start_admin_daemon(tmp_path_factory.mktemp("sync-remote") / "daemon", fake)
    try:
        yield d
    finally:
        d.close()


async def open_local(path: Path):
    return await open_repository("", data_dir=path)


async def test_round_pulls_merges_and_pushes(remote, tmp_path):
    repo = await open_local(tmp_path / "local")
    try:
        with client(remote) as c:
            c.put("/api/mappings/round-remote", json={"target": "gemini-3-flash"}).raise_for_status()
            stamp = c.get("/api/config/mapping").json()["entries"]["round-remote"]["updated_at"]
        await repo.set_mapping("round-local", "claude-sonnet-4-6")
        await repo.delete_mapping("round-gone")  # a tombstone for a key the remote never had
        sync = MappingSync(repo, remote=remote.url, api_key=TEST_API_KEY, instance_id="local-test")
        async with httpx.AsyncClient(timeout=10) as http:
            first = await sync.sync_once(http)
            assert first.pulled >= 1 and first.pushed == 2 and first.remote_updated == 2
            second = await sync.sync_once(http)
            assert (second.pulled, second.pushed) == (0, 0)  # converged: nothing moves
        # The remote entry arrived with its own timestamp, not "now".
        local = {m.key: m for m in await repo.mappings(include_deleted=True)}
        assert local["round-remote"].updated_at == stamp
        with client(remote) as c:
            entries = c.get("/api/config/mapping").json()["entries"]
        assert entries["round-local"]["target"] == "claude-sonnet-4-6"
        assert entries["round-gone"]["deleted"] is True
        assert entries["round-local"]["updated_at"] == local["round-local"].updated_at
    finally:
        await repo.aclose()


async def test_round_failures_are_reported_not_raised(remote, tmp_path):
    repo = await open_local(tmp_path / "local")
    try:
        wrong = MappingSync(repo, remote=remote.url, api_key="sk-not-the-key", instance_id="x")
        nobody = MappingSync(repo, remote="http://user:pw@127.0.0.1:9", api_key=TEST_API_KEY, instance_id="x")
        async with httpx.AsyncClient(timeout=10) as http:
            await wrong._round_logged(http)
            await nobody._round_logged(http)
        assert wrong.state.failures == 1 and "refused our API key" in wrong.state.last_error
        assert nobody.state.failures == 1 and "pw" not in nobody.state.last_error
        assert nobody.status()["sync"]["remote"] == "http://127.0.0.1:9"
        with client(remote) as c:
            me = c.get("/api/config/mapping").json()["instance_id"]
        itself = MappingSync(repo, remote=remote.url, api_key=TEST_API_KEY, instance_id=me)
        async with httpx.AsyncClient(timeout=10) as http:
            await itself._round_logged(http)
        assert "points at this instance itself" in itself.state.last_error
    finally:
        await repo.aclose()


async def test_old_tombstones_are_collected(tmp_path):
    repo = await open_local(tmp_path / "local")
    try:
        now = time.time()
        await repo.set_mapping("keep", "gemini-3-flash", updated_at=int((now - 90 * 86400) * 1000))
        await repo.delete_mapping("old-delete", updated_at=int((now - 31 * 86400) * 1000))
        await repo.delete_mapping("new-delete", updated_at=int((now - 86400) * 1000))
        sync = MappingSync(repo, remote="", api_key=TEST_API_KEY, tombstone_ttl=30 * 86400)
        assert await sync.collect_garbage() == 1
        left = {m.key for m in await repo.mappings(include_deleted=True)}
        assert left == {"keep", "new-delete"}
    finally:
        await repo.aclose()


async def test_without_a_remote_no_http_client_is_made(tmp_path, monkeypatch):
    """An instance with no remote only purges tombstones: it must not build an HTTP client (httpx's default
    transport loads httpcore and the CA bundle, ~3 MB of the daemon's idle memory)."""
    made: list[object] = []

    class Counting(httpx.AsyncClient):
        def __init__(self, *args, **kwargs) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", Counting)
    repo = await open_local(tmp_path / "local")
    try:
        sync = MappingSync(repo, remote="", api_key=TEST_API_KEY)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sync.run)
            await sync.round_done.wait()
            nursery.cancel_scope.cancel()
        assert made == []
        remote = MappingSync(repo, remote="http://127.0.0.1:9", api_key=TEST_API_KEY, instance_id="x")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(remote.run)
            await remote.round_done.wait()
            nursery.cancel_scope.cancel()
        assert len(made) == 1 and remote.state.failures == 1
    finally:
        await repo.aclose()


# ---------------------------------------------------------------------------------------------------- two daemons


def snapshot(d) -> dict[str, tuple[str, bool]]:
    with client(d) as c:
        entries = c.get("/api/config/mapping").json()["entries"]
    return {k: (e["target"], e["deleted"]) for k, e in entries.items()}


@pytest.mark.slow
def test_two_daemons_converge_including_deletes(fake, workdir):
    b = start_admin_daemon(workdir / "b", fake, name="b")
    a = start_admin_daemon(workdir / "a", fake, name="a", settings={"sync.remote": b.url, "sync.interval": 5.0})
    try:
        with client(a) as ca, client(b) as cb:
            ca.put("/api/mappings/from-a", json={"target": "gemini-3-flash"}).raise_for_status()
            cb.put("/api/mappings/from-b", json={"target": "claude-sonnet-4-6"}).raise_for_status()
            cb.put("/api/mappings/doomed", json={"target": "gemini-3.1-pro-high"}).raise_for_status()
            want = {"from-a": ("gemini-3-flash", False), "from-b": ("claude-sonnet-4-6", False),
                    "doomed": ("gemini-3.1-pro-high", False)}
            wait_until(lambda: snapshot(a) == snapshot(b) == want, timeout=30, what="first convergence")

            # A delete on one side and an edit on the other, concurrently.
            ca.delete("/api/mappings/doomed").raise_for_status()
            cb.put("/api/mappings/from-a", json={"target": "gemini-3.1-pro-low"}).raise_for_status()
            want = {"from-a": ("gemini-3.1-pro-low", False), "from-b": ("claude-sonnet-4-6", False),
                    "doomed": ("", True)}
            wait_until(lambda: snapshot(a) == snapshot(b) == want, timeout=30, what="delete and edit to converge")
            assert "doomed" not in {m["key"] for m in cb.get("/api/mappings").json()["mappings"]}
            status = ca.get("/api/status").json()["sync"]
            assert status["enabled"] and status["rounds"] >= 2 and status["failures"] == 0 and status["pushed"] >= 2

        # A restart keeps every timestamp: the restarted side claims nothing as "now".
        with client(b) as cb:
            before = cb.get("/api/config/mapping").json()["entries"]
        b.stop()
        b2 = start_admin_daemon(workdir / "b", fake, name="b", settings={"server.port": int(b.url.rsplit(":", 1)[1])})
        try:
            with client(b2) as cb:
                assert cb.get("/api/config/mapping").json()["entries"] == before
        finally:
            b2.close()
    finally:
        a.close()
        b.close()
