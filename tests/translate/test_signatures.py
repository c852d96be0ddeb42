import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.translate.signature_cache import (
    SENTINEL,
    MemorySignatureCache,
    NullSignatureCache,
    SeenSignature,
    usable_signature,
)
from antigravityd.translate.signatures import (
    SignatureRecorder,
    apply_history_signatures,
    call_key,
    claude_thinking_allowed,
    content_key,
)

GEM = "E" + "g" * 60  # looks like a Gemini 3 signature
GEM2 = "E" + "h" * 60
CLA = "R" + "c" * 80  # looks like a doubly encoded Claude signature


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def cache_with(*records):
    cache = MemorySignatureCache(Clock())
    cache.remember_all(records)
    return cache


def test_usable_signature():
    assert usable_signature(GEM)
    assert not usable_signature("short") and not usable_signature(SENTINEL) and not usable_signature(None)
    assert not usable_signature(123)


# ---------------------------------------------------------------------------------------------- memory cache


def test_cache_is_family_aware_and_tracks_families():
    cache = cache_with(SeenSignature("tool_call", "call_1", GEM, "gemini"),
                       SeenSignature("session", "s", CLA, "claude"))
    assert cache.get("tool_call", "call_1", "gemini") == GEM
    assert cache.get("tool_call", "call_1", "claude") is None
    assert cache.get("session", "s", "claude") == CLA
    assert cache.family_of(GEM) == "gemini" and cache.family_of(CLA) == "claude" and cache.family_of("x") is None


def test_cache_ignores_short_and_sentinel_signatures():
    cache = cache_with(SeenSignature("tool_call", "a", "short", "gemini"),
                       SeenSignature("tool_call", "b", SENTINEL, "gemini"),
                       SeenSignature("tool_call", "", GEM, "gemini"))
    assert len(cache) == 0


def test_cache_ttl_and_lru_bound():
    clock = Clock()
    cache = MemorySignatureCache(clock, max_entries=3, ttl=100)
    for i in range(3):
        cache.remember(SeenSignature("tool_call", f"k{i}", GEM + str(i), "gemini"))
    assert cache.get("tool_call", "k0", "gemini")  # k0 becomes most recently used
    cache.remember(SeenSignature("tool_call", "k3", GEM + "3", "gemini"))
    assert cache.get("tool_call", "k1", "gemini") is None  # evicted: least recently used
    assert cache.get("tool_call", "k0", "gemini") and len(cache) == 3
    clock.now += 100
    assert cache.get("tool_call", "k0", "gemini") is None
    assert cache.family_of(GEM + "3") is None


def test_snapshot_and_restore_keep_ages():
    clock = Clock()
    cache = MemorySignatureCache(clock, ttl=100)
    cache.remember(SeenSignature("content", "ch-1", GEM, "gemini"))
    clock.now += 60
    cache.remember(SeenSignature("content", "ch-2", GEM2, "gemini"))
    records = cache.snapshot()
    assert [r[0].key for r in records] == ["ch-1", "ch-2"]
    fresh = MemorySignatureCache(clock, ttl=100)
    fresh.restore(records)
    clock.now += 50  # ch-1 is 110 s old now, ch-2 50 s
    assert fresh.get("content", "ch-1", "gemini") is None and fresh.get("content", "ch-2", "gemini") == GEM2


def test_cache_rejects_bad_bounds():
    with pytest.raises(ValueError):
        MemorySignatureCache(Clock(), max_entries=0)


# ---------------------------------------------------------------------------------------------- gemini targets


def model(*parts):
    return {"role": "model", "parts": list(parts)}


def user(*parts):
    return {"role": "user", "parts": list(parts)}


def call(name, args=None, call_id=None, signature=None):
    fc = {"name": name, "args": args or {}} | ({"id": call_id} if call_id else {})
    return {"functionCall": fc} | ({"thoughtSignature": signature} if signature else {})


def apply(contents, family="gemini", cache=None, session="sid-1"):
    before = copy.deepcopy(contents)
    out = apply_history_signatures(contents, family=family, session_id=session, cache=cache or NullSignatureCache())
    assert contents == before
    return out


def sigs(content):
    return [p.get("thoughtSignature") for p in content["parts"]]


def test_gemini_resolution_order():
    contents = [user({"text": "q"}), model(call("f", {"a": 1}, "call_1")), user({"functionResponse": {}})]
    assert sigs(apply(contents)[1]) == [SENTINEL]
    session = cache_with(SeenSignature("session", "sid-1", GEM2, "gemini"))
    assert sigs(apply(contents, cache=session)[1]) == [GEM2]
    by_call = cache_with(SeenSignature("session", "sid-1", GEM2, "gemini"),
                         SeenSignature("call", call_key("f", {"a": 1}), GEM, "gemini"))
    assert sigs(apply(contents, cache=by_call)[1]) == [GEM]
    by_id = cache_with(SeenSignature("call", call_key("f", {"a": 1}), GEM2, "gemini"),
                       SeenSignature("tool_call", "call_1", GEM, "gemini"))
    assert sigs(apply(contents, cache=by_id)[1]) == [GEM]
    client = [user({"text": "q"}), model(call("f", {"a": 1}, "call_1", signature=GEM2))]
    assert sigs(apply(client, cache=by_id)[1]) == [GEM2]


def test_gemini_uses_thought_signature_of_the_same_turn_and_drops_foreign_ones():
    cache = cache_with(SeenSignature("session", "x", CLA, "claude"))
    contents = [model({"text": "thinking about it", "thought": True, "thoughtSignature": GEM},
                      call("f", signature=CLA), call("g"))]
    out = apply(contents, cache=cache)[0]
    assert out["parts"][0]["thoughtSignature"] == GEM
    assert out["parts"][1]["thoughtSignature"] == GEM  # foreign CLA replaced by the turn's thought signature
    assert "thoughtSignature" not in out["parts"][2]  # later parallel call: nothing known, left unsigned


def test_gemini_drops_unsigned_thoughts_unless_content_cache_knows_them():
    text = "Let me think about the weather in Paris."
    contents = [model({"text": text, "thought": True}, {"text": "answer"})]
    assert apply(contents)[0]["parts"] == [{"text": "answer"}]
    cache = cache_with(SeenSignature("content", content_key(text), GEM, "gemini"))
    assert apply(contents, cache=cache)[0]["parts"][0] == {"text": text, "thought": True, "thoughtSignature": GEM}


def test_every_model_turn_with_calls_gets_a_signature_on_its_first_call():
    responses = user({"functionResponse": {}}, {"functionResponse": {}})
    contents = [user({"text": "a"}), model(call("f"), call("g")), responses, model(call("h")),
                user({"functionResponse": {}})]
    out = apply(contents)
    assert sigs(out[1]) == [SENTINEL, None] and sigs(out[3]) == [SENTINEL]
    assert out[0] is contents[0]


# ---------------------------------------------------------------------------------------------- claude targets


def test_claude_keeps_only_non_foreign_signed_thoughts_and_strips_call_signatures():
    cache = cache_with(SeenSignature("session", "s", GEM, "gemini"))
    contents = [model({"text": "answer"}, {"text": "mine", "thought": True, "thoughtSignature": CLA},
                      call("f", call_id="toolu_1", signature=GEM)),
                model({"text": "theirs", "thought": True, "thoughtSignature": GEM}, {"text": "t"}),
                model({"text": "dummy", "thought": True, "thoughtSignature": SENTINEL}, {"text": "t"})]
    out = apply(contents, family="claude", cache=cache)
    assert out[0]["parts"] == [{"text": "mine", "thought": True, "thoughtSignature": CLA}, {"text": "answer"},
                               {"functionCall": {"name": "f", "args": {}, "id": "toolu_1"}}]
    assert out[1]["parts"] == [{"text": "t"}]
    assert out[2]["parts"] == [{"text": "t"}]


def test_claude_merges_split_thinking_and_recovers_from_content_cache():
    text = "The user wants the file list."
    split = [model({"text": text, "thought": True}, {"text": "", "thought": True, "thoughtSignature": CLA},
                   call("bash", {"command": "ls"}, "toolu_1"))]
    out = apply(split, family="claude")
    assert out[0]["parts"][0] == {"text": text, "thought": True, "thoughtSignature": CLA}
    cache = cache_with(SeenSignature("content", content_key(text), CLA, "claude"))
    recovered = apply([model({"text": text, "thought": True}, call("bash", {}, "toolu_1"))], "claude", cache)
    assert recovered[0]["parts"][0]["thoughtSignature"] == CLA


def test_claude_thinking_allowed():
    signed = model({"text": "t", "thought": True, "thoughtSignature": CLA}, call("f", call_id="a"))
    unsigned = model(call("f", call_id="a"))
    result = user({"functionResponse": {"name": "f", "id": "a", "response": {}}})
    assert claude_thinking_allowed([user({"text": "q"}), signed, result])
    assert not claude_thinking_allowed([user({"text": "q"}), unsigned, result])
    assert claude_thinking_allowed([user({"text": "q"}), unsigned, result, model({"text": "done"}),
                                    user({"text": "next"})])
    assert claude_thinking_allowed([])


# ---------------------------------------------------------------------------------------------- recorder


def test_recorder_produces_lookup_records():
    rec = SignatureRecorder("gemini", "sid-9")
    rec.call("call_x", "f", {"a": 1}, GEM)
    rec.thought("a thought that is long enough to key", GEM2)
    rec.thought("short", GEM2)
    rec.call(None, "g", {}, "too short")
    kinds = {(s.kind, s.key) for s in rec.seen}
    assert ("tool_call", "call_x") in kinds and ("call", call_key("f", {"a": 1})) in kinds
    assert ("session", "sid-9") in kinds and ("content", content_key("a thought that is long enough to key")) in kinds
    assert not any(s.key == content_key("short") for s in rec.seen)
    assert rec.last_signature == GEM2
    cache = cache_with(*rec.seen)
    assert cache.get("session", "sid-9", "gemini") == GEM2


part_strategy = st.one_of(
    st.builds(lambda t, s: {"text": t, "thought": True} | ({"thoughtSignature": s} if s else {}),
              st.text(max_size=5), st.sampled_from([None, GEM, CLA, SENTINEL, "short"])),
    st.builds(lambda n, s, i: call(n, {"k": n}, i, s), st.sampled_from(["f", "g"]),
              st.sampled_from([None, GEM, CLA, SENTINEL]), st.sampled_from([None, "id1", "id2"])),
    st.builds(lambda t, s: {"text": t} | ({"thoughtSignature": s} if s else {}), st.text(max_size=5),
              st.sampled_from([None, GEM, "short"])),
)


@given(st.lists(st.builds(lambda role, parts: {"role": role, "parts": parts}, st.sampled_from(["user", "model"]),
                          st.lists(part_strategy, max_size=5)), max_size=5),
       st.sampled_from(["gemini", "claude"]))
def test_history_rules_hold_for_any_history(contents, family):
    cache = cache_with(SeenSignature("session", "sid-1", CLA, "claude"),
                       SeenSignature("tool_call", "id1", GEM, "gemini"))
    out = apply(contents, family, cache)
    assert len(out) == len(contents)
    for before, after in zip(contents, out, strict=True):
        calls_before = [p["functionCall"] for p in before["parts"] if "functionCall" in p]
        calls_after = [p["functionCall"] for p in after["parts"] if "functionCall" in p]
        assert calls_before == calls_after  # calls are never dropped, reordered or rewritten
        if after["role"] != "model":
            continue
        for part in after["parts"]:
            sig = part.get("thoughtSignature")
            if family == "claude":
                assert sig != SENTINEL and sig != GEM
                assert sig is None or part.get("thought") is True
            else:
                assert sig != CLA
        if family == "gemini" and calls_after:
            first = next(p for p in after["parts"] if "functionCall" in p)
            assert first.get("thoughtSignature")


def test_without_signatures_for_the_retry():
    from antigravityd.translate.signatures import without_signatures

    request = {"contents": [user({"text": "q"}),
                            model({"text": "t", "thought": True, "thoughtSignature": CLA}, call("f", signature=GEM),
                                  {"text": "a", "thoughtSignature": GEM}),
                            model({"text": "only thinking", "thought": True}),
                            user({"functionResponse": {}})],
               "generationConfig": {"maxOutputTokens": 10, "thinkingConfig": {"thinkingBudget": 5}}}
    gemini = without_signatures(request, "gemini")
    assert gemini["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}},
                                               "thoughtSignature": SENTINEL}, {"text": "a"}]
    assert len(gemini["contents"]) == 3 and gemini["generationConfig"] == request["generationConfig"]
    claude = without_signatures(request, "claude")
    assert claude["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}, {"text": "a"}]
    assert claude["generationConfig"] == {"maxOutputTokens": 10}
    assert request["contents"][1]["parts"][0]["thought"] is True  # input untouched
