"""Upstream events → Anthropic stream: the §8.4 example, signature handling, stop reasons, and properties: any
chunking of the same upstream parts gives the same message, and every event sequence is valid."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.translate.anthropic_stream import AnthropicStreamTranslator
from antigravityd.translate.signatures import content_key
from antigravityd.translate.stop_scan import StopScanner
from tests.support.anthropic_stream_check import check_anthropic_stream

E_SIG = "EqwDCkYIBxgCKkD" + "x" * 60
R_SIG = base64.b64encode(E_SIG.encode()).decode()
GEM_SIG = "EqQBCqEBAXLI2nx" + "y" * 60


def event(*parts: dict, finish: str | None = None, usage: dict | None = None, rid: str = "resp1") -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "responseId": rid}
    if usage:
        out["usageMetadata"] = usage
    return out


def run(events: list[dict], *, family: str = "claude", truncated: bool = False, stops=(), **kw: Any):
    t = AnthropicStreamTranslator(model="claude-opus-4-6", family=family, session_id="sid-1", message_id="msg_fb",
                                  stop_sequences=stops, collect=True, **kw)
    out = []
    for e in events:
        out += t.feed(e)
    out += t.finish(truncated=truncated)
    message = check_anthropic_stream(out)
    assert message == t.message()  # the non-stream answer is the streamed one
    return t, out, message


def test_the_reference_example():
    """upstream-protocol §3.4.3 → §8.4."""
    events = [
        event({"text": "The user wants the file list.", "thought": True},
              usage={"promptTokenCount": 3021, "totalTokenCount": 3021}, rid="msg_vrtx_01Abc"),
        event({"text": "", "thought": True, "thoughtSignature": R_SIG}, rid="msg_vrtx_01Abc"),
        event({"text": "I'll list the directory."}, rid="msg_vrtx_01Abc"),
        event({"functionCall": {"name": "bash", "args": {"command": "ls /tmp"}, "id": "toolu_vrtx_01PqRsTuVwXyZ"}},
              finish="STOP", usage={"promptTokenCount": 3021, "candidatesTokenCount": 64, "totalTokenCount": 3085},
              rid="msg_vrtx_01Abc"),
    ]
    t, out, message = run(events)
    assert [name for name, _ in out] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "content_block_start",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert out[0][1]["message"]["id"] == "msg_vrtx_01Abc" and out[0][1]["message"]["usage"]["input_tokens"] == 3021
    assert message["content"] == [
        {"type": "thinking", "thinking": "The user wants the file list.", "signature": E_SIG},
        {"type": "text", "text": "I'll list the directory."},
        {"type": "tool_use", "id": "toolu_vrtx_01PqRsTuVwXyZ", "name": "bash", "input": {"command": "ls /tmp"}}]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 3021, "output_tokens": 64, "cache_read_input_tokens": 0,
                                "cache_creation_input_tokens": 0}
    kinds = {(s.kind, s.key) for s in t.seen}
    assert ("content", content_key("The user wants the file list.")) in kinds and ("session", "sid-1") in kinds
    assert all(s.signature == R_SIG and s.family == "claude" for s in t.seen)  # stored in the upstream form


def test_signature_on_the_last_fragment_and_a_lone_claude_signature():
    _, _, message = run([event({"text": "hm", "thought": True}, {"text": "m", "thought": True,
                                                                "thoughtSignature": R_SIG}),
                         event({"text": "answer"}, finish="STOP")])
    assert message["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": E_SIG}
    _, _, lone = run([event({"text": "answer"}), event({"text": "", "thoughtSignature": R_SIG}, finish="STOP")])
    assert lone["content"][1] == {"type": "thinking", "thinking": "", "signature": E_SIG}


def test_gemini_signatures_are_recorded_not_shown():
    t, _, message = run([event({"text": "ponder", "thought": True}),
                         event({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": GEM_SIG},
                               {"functionCall": {"name": "g", "args": {"a": 1}}}, finish="STOP"),
                         ], family="gemini")
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert len({u["id"] for u in uses}) == 2 and all(u["id"].startswith("toolu_") for u in uses)
    assert message["content"][0] == {"type": "thinking", "thinking": "ponder", "signature": ""}
    assert ("tool_call", uses[0]["id"]) in {(s.kind, s.key) for s in t.seen}
    t2, _, carrier = run([event({"text": "hello"}), event({"text": "", "thoughtSignature": GEM_SIG}, finish="STOP")],
                         family="gemini")
    assert [b["type"] for b in carrier["content"]] == ["text"]
    assert {s.kind for s in t2.seen} == {"session"}


def test_stop_reasons():
    assert run([event({"text": "x"}, finish="MAX_TOKENS")])[2]["stop_reason"] == "max_tokens"
    assert run([event({"text": "x"})], truncated=True)[2]["stop_reason"] == "max_tokens"
    assert run([event({"text": "x"}, finish="SAFETY")])[2]["stop_reason"] == "end_turn"
    _, _out, message = run([event({"text": "one STO"}), event({"text": "P two"}, finish="STOP")], stops=["STOP"])
    assert message["content"][0]["text"] == "one " and message["stop_sequence"] == "STOP"
    assert message["stop_reason"] == "stop_sequence"


def test_image_parts_and_empty_answers():
    _, _, message = run([event({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, finish="STOP")])
    assert message["content"] == [{"type": "text", "text": "![image](data:image/png;base64,AAAA)"}]
    _, _out, empty = run([event(finish="STOP")])
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn"


def test_junk_from_upstream_is_skipped():
    junk = [{"candidates": "x"}, {"candidates": [{"content": {"parts": [5, {"functionCall": {"args": {}}}]}}]},
            event({"text": "ok"}, finish="STOP")]
    assert run(junk)[2]["content"] == [{"type": "text", "text": "ok"}]


def test_feed_after_finish_is_ignored():
    t = AnthropicStreamTranslator(model="m", family="gemini", session_id=None, message_id="msg_x")
    t.feed(event({"text": "a"}))
    t.finish(truncated=False)
    assert t.feed(event({"text": "b"})) == [] and t.finish(truncated=False) == []


# ------------------------------------------------------------------------------------------------ stop scanner


@given(st.text(max_size=30), st.lists(st.integers(min_value=0, max_value=30), max_size=6),
       st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3))
def test_stop_scanner_is_chunking_invariant(text: str, cuts: list[int], stops: list[str]):
    bounds = sorted({0, len(text), *[min(c, len(text)) for c in cuts]})
    scanner = StopScanner(stops)
    emitted = "".join(scanner.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + scanner.flush()
    positions = [(text.find(s), s) for s in stops if s in text]
    if positions:
        at, _ = min(positions)
        assert emitted == text[:at] and scanner.matched is not None and text[at:].startswith(scanner.matched)
    else:
        assert emitted == text and scanner.matched is None


# ------------------------------------------------------------------------------------------------ properties

_part = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(max_size=8)),
    st.builds(lambda t: {"text": t, "thought": True}, st.text(max_size=8)),
    st.just({"text": "", "thought": True, "thoughtSignature": R_SIG}),
    st.just({"text": "", "thoughtSignature": GEM_SIG}),
    st.builds(lambda n, a: {"functionCall": {"name": n, "args": a}}, st.sampled_from(["f", "g"]),
              st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    st.just({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}),
    st.just({"executableCode": {"code": "x"}}),
)


def _chunked(parts: list[dict], cuts: list[int], finish: str | None) -> list[dict]:
    bounds = sorted({0, len(parts), *[min(c, len(parts)) for c in cuts]})
    events = [event(*parts[a:b], rid="r") for a, b in itertools.pairwise(bounds)] or [event(rid="r")]
    if finish:
        events.append(event(finish=finish, usage={"promptTokenCount": 5, "candidatesTokenCount": 3}, rid="r"))
    return events


@settings(max_examples=300, deadline=None)
@given(st.lists(_part, max_size=12), st.lists(st.integers(min_value=0, max_value=12), max_size=5),
       st.lists(st.integers(min_value=0, max_value=12), max_size=5),
       st.sampled_from(["claude", "gemini"]), st.sampled_from([None, "STOP", "MAX_TOKENS"]),
       st.lists(st.sampled_from(["a", "xy", "zz"]), max_size=2))
def test_any_chunking_gives_the_same_valid_answer(parts, cuts_a, cuts_b, family, finish, stops):
    first = run(_chunked(parts, cuts_a, finish), family=family, truncated=finish is None, stops=stops)[2]
    second = run(_chunked(parts, cuts_b, finish), family=family, truncated=finish is None, stops=stops)[2]
    assert first == second  # (run() already validated both event sequences, indices included)
