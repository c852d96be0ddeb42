"""Conformance: settings, LWW model mappings, thought signatures. Plus the LWW rule as a property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.store import ModelMapping, ValidationError


async def test_settings_round_trip(repo):
    assert await repo.get_setting("routing.mode", "default") == "default"
    await repo.set_setting("routing.mode", {"tiers": ["ultra", "pro"], "threshold": 0.1})
    await repo.set_setting("flag", True)
    await repo.set_setting("flag", False)
    assert await repo.get_setting("routing.mode") == {"tiers": ["ultra", "pro"], "threshold": 0.1}
    assert await repo.all_settings() == {"flag": False, "routing.mode": {"tiers": ["ultra", "pro"], "threshold": 0.1}}
    for bad in ("", "store.token_key_check", "k" * 200):
        with pytest.raises(ValidationError):
            await repo.set_setting(bad, 1)
    with pytest.raises(ValidationError):
        await repo.set_setting("big", "x" * 300_000)
    with pytest.raises(ValidationError):
        await repo.set_setting("obj", object())


async def test_local_mapping_edits_and_tombstones(repo):
    m = await repo.set_mapping("gpt-4o", "gemini-3-flash", updated_at=1_000)
    assert m == ModelMapping("gpt-4o", "gemini-3-flash", 1_000, False)
    later = await repo.set_mapping("gpt-4o", "claude-sonnet-4-6")
    assert later.updated_at > 1_000
    gone = await repo.delete_mapping("gpt-4o")
    assert gone.deleted and gone.target == "" and gone.updated_at > later.updated_at
    assert await repo.mappings() == []
    assert await repo.mappings(include_deleted=True) == [gone]
    assert await repo.mappings(since=gone.updated_at, include_deleted=True) == []
    assert await repo.mappings(since=gone.updated_at - 1, include_deleted=True) == [gone]
    with pytest.raises(ValidationError):
        await repo.set_mapping("x", "")


async def test_local_edit_wins_even_with_a_clock_behind(repo):
    future = int((datetime.now(UTC) + timedelta(days=365)).timestamp() * 1000)
    await repo.merge_mappings([ModelMapping("a", "remote", future)])
    local = await repo.set_mapping("a", "local")
    assert local.updated_at == future + 1 and (await repo.mappings())[0].target == "local"


async def test_merge_is_last_writer_wins(repo):
    await repo.set_mapping("a", "local-a", updated_at=100)
    await repo.set_mapping("b", "local-b", updated_at=300)
    applied = await repo.merge_mappings([
        ModelMapping("a", "remote-a", 200),            # newer: wins
        ModelMapping("b", "remote-b", 200),            # older: loses
        ModelMapping("c", "", 50, deleted=True),       # unknown tombstone: kept, so it keeps propagating
        ModelMapping("c", "remote-c", 40),             # older than the tombstone in the same batch
    ])
    assert [m.key for m in applied] == ["a", "c"]
    assert {m.key: (m.target, m.deleted) for m in await repo.mappings(include_deleted=True)} == {
        "a": ("remote-a", False), "b": ("local-b", False), "c": ("", True)}
    assert await repo.merge_mappings([ModelMapping("a", "remote-a", 200)]) == []  # idempotent


entries = st.builds(ModelMapping, key=st.sampled_from(["a", "b"]), target=st.sampled_from(["x", "y", "z"]),
                    updated_at=st.integers(0, 5), deleted=st.booleans()).map(
    lambda m: ModelMapping(m.key, "" if m.deleted else m.target, m.updated_at, m.deleted))


def fold(items):
    state: dict[str, ModelMapping] = {}
    for m in items:
        if m.beats(state.get(m.key)):
            state[m.key] = m
    return state


@given(st.lists(entries, max_size=12), st.randoms())
def test_lww_merge_converges_in_any_order(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert fold(items) == fold(shuffled) == fold(items + shuffled)  # order-free and idempotent
    for m in items:
        assert not m.beats(m)


async def test_signatures_three_kinds_and_ttl(repo):
    await repo.put_signature("tool_call", "toolu_1", "sig-tool", "claude")
    await repo.put_signature("session", "sess-1", "sig-session", "gemini")
    await repo.put_signature("content", "sha256:abcd", "sig-content", "claude")
    await repo.put_signature("session", "sess-1", "sig-session-2", "gemini")  # upsert
    s = await repo.get_signature("session", "sess-1")
    assert (s.signature, s.model_family) == ("sig-session-2", "gemini")
    assert (await repo.get_signature("tool_call", "toolu_1")).signature == "sig-tool"
    assert await repo.get_signature("tool_call", "sess-1") is None  # kinds are separate namespaces
    assert await repo.purge_signatures("content", datetime.now(UTC) - timedelta(days=7)) == 0
    assert await repo.purge_signatures("content", datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert await repo.get_signature("content", "sha256:abcd") is None
    assert await repo.get_signature("tool_call", "toolu_1") is not None
    with pytest.raises(ValidationError):
        await repo.put_signature("bogus", "k", "s", "f")
    with pytest.raises(ValidationError):
        await repo.put_signature("session", "k", "s" * 70_000, "f")
