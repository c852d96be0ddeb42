"""Anthropic Messages → upstream request: examples for every rule, and properties over generated bodies."""

from __future__ import annotations

import base64
import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antigravityd.translate.anthropic_content import EMPTY_ERROR_RESULT, EMPTY_RESULT, MAX_TOOL_RESULT_CHARS
from antigravityd.translate.anthropic_request import translate_messages
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.history_repair import INTERRUPTED_RESULT, close_tool_loops
from antigravityd.translate.models import resolve_model
from antigravityd.translate.signature_cache import SENTINEL, MemorySignatureCache, SeenSignature
from antigravityd.translate.signatures import content_key
from tests.translate.captures import _load

R_SIG = base64.b64encode(("E" + "q" * 80).encode()).decode()  # an upstream (R-form) Claude signature
E_SIG = "E" + "q" * 80  # the same, as the client sees it
GEM_SIG = "E" + "g" * 70


def ctx(cache: Any = None, *, recovery: bool = True) -> TranslateContext:
    return TranslateContext(request_id="r", session_id="sid-test", signatures=cache or MemorySignatureCache(
        lambda: 0.0), tool_loop_recovery=recovery)


def tr(body: dict, model: str | None = None, cache: Any = None, **kw: Any):
    body = {"model": model or "claude-sonnet-4-6", "max_tokens": 1000, **body}
    return translate_messages(body, resolve_model(body["model"], {}), ctx(cache, **kw))


def user(content: Any) -> dict:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict:
    return {"role": "assistant", "content": content}


# ------------------------------------------------------------------------------------------------ structure


def test_system_string_blocks_and_system_messages_are_lifted():
    t = tr({"system": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "  "}],
            "messages": [user("hi"), {"role": "system", "content": "B"}, user("again")]})
    request = t.envelope("p", "req")["request"]
    texts = [p["text"] for p in request["systemInstruction"]["parts"]]
    assert texts[0].startswith("You are Antigravity") and texts[1:] == ["A", "B"]
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}, {"text": "again"}]}]
    assert "cache_control" not in repr(request)


def test_roles_alternate_and_empty_text_is_dropped():
    t = tr({"messages": [user([{"type": "text", "text": "(no content)"}, {"type": "text", "text": "q"}]),
                         assistant("a1"), assistant([{"type": "text", "text": "a2"}]), user("   "), user("q2")]})
    assert [(c["role"], [p["text"] for p in c["parts"]]) for c in t.contents] == [
        ("user", ["q"]), ("model", ["a1", "a2"]), ("user", ["q2"])]


def test_envelope_shape_and_session():
    envelope = tr({"messages": [user("x")]}).envelope("proj-1", "agent-1")
    assert envelope["project"] == "proj-1" and envelope["requestId"] == "agent-1"
    assert envelope["model"] == "claude-sonnet-4-6" and envelope["requestType"] == "agent"
    assert envelope["request"]["sessionId"] == "sid-test"


def test_gemini_conversation_starts_with_user():
    t = tr({"messages": [assistant("prefilled"), user("q")]}, model="gemini-3-flash")
    assert t.contents[0]["role"] == "user"


# ------------------------------------------------------------------------------------------------ blocks


def test_images_and_documents():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
    t = tr({"messages": [user([
        {"type": "image", "source": {"type": "base64", "data": png}},  # media type sniffed
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.PNG?size=2"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
        {"type": "text", "text": "describe"}])]})
    parts = t.contents[0]["parts"]
    assert {"inlineData": {"mimeType": "image/png", "data": png}} in parts
    assert {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.PNG?size=2"}} in parts
    assert {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}} in parts
    assert parts[:2] == [{"text": "plain doc"}, {"text": "describe"}]  # text first, media after


@pytest.mark.parametrize("url", ["file:///etc/passwd", "/etc/passwd", "C:\\x.png", "ftp://h/x.png", "http:///x"])
def test_image_urls_must_be_http(url: str):
    with pytest.raises(ClientError, match="http"):
        tr({"messages": [user([{"type": "image", "source": {"type": "url", "url": url}}])]})


def test_file_sources_and_bad_media_types_are_refused():
    with pytest.raises(ClientError, match="file sources"):
        tr({"messages": [user([{"type": "image", "source": {"type": "file", "file_id": "f"}}])]})
    with pytest.raises(ClientError, match="image type"):
        tr({"messages": [user([{"type": "image", "source": {"type": "base64", "media_type": "text/html",
                                                            "data": "AAAA"}}])]})


def _loop(result_content: Any, **extra: Any) -> list[dict]:
    return [user("go"), assistant([{"type": "tool_use", "id": "t1", "name": "run", "input": {}}]),
            user([{"type": "tool_result", "tool_use_id": "t1", "content": result_content, **extra}])]


def _response(t) -> dict:
    return t.contents[2]["parts"][0]["functionResponse"]


def test_tool_results():
    assert _response(tr({"messages": _loop("out")})) == {"name": "run", "id": "t1", "response": {"result": "out"}}
    multi = tr({"messages": _loop([{"type": "text", "text": "a"}, {"type": "text", "text": "b"},
                                   {"type": "image", "source": {"type": "base64", "media_type": "image/gif",
                                                                "data": "R0lGOA=="}}])})
    assert _response(multi)["response"] == {"result": "a\nb"}
    assert multi.contents[2]["parts"][1] == {"inlineData": {"mimeType": "image/gif", "data": "R0lGOA=="}}
    assert _response(tr({"messages": _loop("")}))["response"] == {"result": EMPTY_RESULT}
    assert _response(tr({"messages": _loop([], is_error=True)}))["response"] == {"error": EMPTY_ERROR_RESULT}
    assert _response(tr({"messages": _loop("boom", is_error=True)}))["response"] == {"error": "boom"}
    long = _response(tr({"messages": _loop("x" * (MAX_TOOL_RESULT_CHARS + 10))}))["response"]["result"]
    assert len(long) == MAX_TOOL_RESULT_CHARS and long.endswith("[truncated output]")


def test_tool_use_arguments_are_coerced_to_the_schema():
    tools = [{"name": "run", "input_schema": {"type": "object", "properties": {"n": {"type": "integer"},
                                                                               "s": {"type": "string"}}}}]
    messages = [user("go"), assistant([{"type": "tool_use", "id": "t1", "name": "run", "input": {"n": "5", "s": "5"}}]),
                user([{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}])]
    call = tr({"messages": messages, "tools": tools}).contents[1]["parts"][0]["functionCall"]
    assert call == {"name": "run", "args": {"n": 5, "s": "5"}, "id": "t1"}


def test_tools_are_cleaned_and_tool_choice_mapped():
    tools = [{"name": "f", "description": "d", "input_schema": {
        "$schema": "x", "type": "object", "properties": {"a": {"type": ["string", "null"], "const": "k"}},
        "additionalProperties": False}},
        {"type": "web_search_20250305", "name": "web_search"}, {"type": "bash_20250124", "name": "bash"}]
    t = tr({"messages": [user("q")], "tools": tools, "tool_choice": {"type": "tool", "name": "f"}})
    declarations = t.tools[0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["f"] and "$schema" not in repr(declarations)
    assert t.tool_config == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    for choice, mode in (({"type": "auto"}, "AUTO"), ({"type": "any"}, "ANY"), ({"type": "none"}, "NONE")):
        assert tr({"messages": [user("q")], "tools": tools, "tool_choice": choice}).tool_config == {
            "functionCallingConfig": {"mode": mode}}
    search_only = tr({"messages": [user("q")], "tools": tools[1:2]}, model="gemini-3-flash")
    assert search_only.envelope("p", "r")["requestType"] == "web_search"


@pytest.mark.parametrize("body, param", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [user(5)]}, "messages[0].content"),
    ({"messages": [user([{"type": "text", "text": 5}])]}, "messages[0].content[0].text"),
    ({"messages": [user("x")], "max_tokens": 0}, "max_tokens"),
    ({"messages": [user("x")], "temperature": 3}, "temperature"),
    ({"messages": [user("x")], "top_k": 0}, "top_k"),
    ({"messages": [user("x")], "stop_sequences": "x"}, "stop_sequences"),
    ({"messages": [user("x")], "thinking": {"type": "sometimes"}}, "thinking.type"),
    ({"messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": -1}}, "thinking.budget_tokens"),
    ({"messages": [user("x")], "output_config": {"effort": "ultra"}}, "output_config.effort"),
    ({"messages": [user("x")], "tools": [{"name": "a"}, {"name": "a"}]}, "tools[1].name"),
    ({"messages": [user("x")], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
    ({"messages": [user([{"type": "tool_result", "content": "x"}])]}, "messages[0].content[0].tool_use_id"),
])
def test_client_errors_name_the_field(body: dict, param: str):
    with pytest.raises(ClientError) as info:
        tr(body)
    assert info.value.param == param and info.value.status == 400


# ------------------------------------------------------------------------------------------------ thinking


def config(t) -> dict:
    return t.request()["generationConfig"]


def test_thinking_modes():
    on = tr({"messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": 4000}, "max_tokens": 10000})
    assert on.thinking_on and config(on)["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 4000}
    adaptive = tr({"messages": [user("x")], "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}})
    assert config(adaptive)["thinkingConfig"]["thinkingBudget"] == 1024
    off = tr({"messages": [user("x")], "thinking": {"type": "disabled"}}, model="claude-opus-4-6-thinking")
    assert not off.thinking_on and config(off)["thinkingConfig"]["thinkingBudget"] == 0
    default = tr({"messages": [user("x")]}, model="claude-opus-4-6-thinking")
    assert default.thinking_on
    level = tr({"messages": [user("x")], "output_config": {"effort": "high"}}, model="gemini-3-flash")
    assert config(level)["thinkingConfig"]["thinkingLevel"] == "high"


def test_claude_thinking_drops_incompatible_sampling_and_forced_tools_disable_it():
    t = tr({"messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": 2000}, "temperature": 0.2,
            "top_k": 5, "top_p": 0.5})
    assert not {"temperature", "topK", "topP"} & set(config(t))
    forced = tr({"messages": [user("x")], "thinking": {"type": "enabled", "budget_tokens": 2000},
                 "tools": [{"name": "f"}], "tool_choice": {"type": "any"}})
    assert not forced.thinking_on


def _signed_history(signature: str, thinking: str = "a careful thought, long enough") -> list[dict]:
    return [user("go"), assistant([{"type": "thinking", "thinking": thinking, "signature": signature},
                                   {"type": "tool_use", "id": "t1", "name": "run", "input": {}}]),
            user([{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}])]


def _thinking_body(messages: list[dict]) -> dict:
    return {"messages": messages, "thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 8000,
            "tools": [{"name": "run"}]}


def test_claude_signature_goes_back_in_r_form_with_interleaved_header():
    t = tr(_thinking_body(_signed_history(E_SIG)), model="claude-opus-4-6-thinking")
    first = t.contents[1]["parts"][0]
    assert first == {"text": "a careful thought, long enough", "thought": True, "thoughtSignature": R_SIG}
    assert t.thinking_on and t.upstream_headers == {"anthropic-beta": "interleaved-thinking-2025-05-14"}


def test_stripped_signature_is_recovered_from_the_content_cache():
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("content", content_key("a careful thought, long enough"), R_SIG, "claude"))
    t = tr(_thinking_body(_signed_history("")), model="claude-opus-4-6-thinking", cache=cache)
    assert t.contents[1]["parts"][0]["thoughtSignature"] == R_SIG and t.thinking_on


def test_unrecoverable_thinking_in_a_tool_loop_turns_thinking_off():
    t = tr(_thinking_body(_signed_history("")), model="claude-opus-4-6-thinking")
    assert not t.thinking_on and t.upstream_headers == {}
    assert not any(p.get("thought") for c in t.contents for p in c["parts"])
    assert config(t)["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 0}


def test_gemini_signature_is_never_sent_to_claude_and_vice_versa():
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("session", "other", GEM_SIG, "gemini"))
    cache.remember(SeenSignature("session", "other2", R_SIG, "claude"))
    to_claude = tr(_thinking_body(_signed_history(GEM_SIG)), model="claude-opus-4-6-thinking", cache=cache)
    assert not any(p.get("thoughtSignature") == GEM_SIG for c in to_claude.contents for p in c["parts"])
    to_gemini = tr(_thinking_body(_signed_history(E_SIG)), model="gemini-3-flash", cache=cache)
    model_turn = to_gemini.contents[1]["parts"]
    assert all(p.get("thoughtSignature") not in (E_SIG, R_SIG) for p in model_turn)
    assert model_turn[-1]["thoughtSignature"] == SENTINEL  # the call gets the documented fallback


def test_gemini_call_signature_from_the_tool_id_cache():
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("tool_call", "t1", GEM_SIG, "gemini"))
    t = tr({"messages": _loop("ok")}, model="gemini-3-flash", cache=cache)
    assert t.contents[1]["parts"][0]["thoughtSignature"] == GEM_SIG


def test_rewrite_after_signature_error():
    claude = tr(_thinking_body(_signed_history(E_SIG)), model="claude-opus-4-6-thinking")
    assert claude.rewrite_signatures() and not claude.thinking_on
    assert not any(p.get("thought") for c in claude.contents for p in c["parts"])
    assert not claude.rewrite_signatures()  # once per request
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("tool_call", "t1", GEM_SIG, "gemini"))
    gemini = tr({"messages": _loop("ok")}, model="gemini-3-flash", cache=cache)
    assert gemini.rewrite_signatures()
    assert gemini.contents[1]["parts"][0]["thoughtSignature"] == SENTINEL


# ------------------------------------------------------------------------------------------------ tool loops


def test_broken_tool_loops_are_closed_only_when_enabled():
    messages = [user("go"), assistant([{"type": "tool_use", "id": "a", "name": "x", "input": {}},
                                       {"type": "tool_use", "id": "b", "name": "y", "input": {}}]),
                user([{"type": "tool_result", "tool_use_id": "b", "content": "B"},
                      {"type": "tool_result", "tool_use_id": "zzz", "content": "stray"}, {"type": "text",
                                                                                           "text": "and"}])]
    parts = tr({"messages": messages}).contents[2]["parts"]
    assert [p["functionResponse"]["id"] for p in parts[:2]] == ["a", "b"]
    assert parts[0]["functionResponse"]["response"] == {"result": INTERRUPTED_RESULT}
    assert parts[2]["text"].startswith("[Result of an earlier tool call zzz]") and parts[3] == {"text": "and"}
    raw = tr({"messages": messages}, recovery=False).contents[2]["parts"]
    assert [p["functionResponse"]["id"] for p in raw if "functionResponse" in p] == ["b", "zzz"]


def test_claude_code_captures_translate():
    for run in _load("claude-code.json")["runs"].values():
        for request in run:
            if request["method"] != "POST":
                continue
            body = copy.deepcopy(request["body"])
            t = translate_messages(body, resolve_model(body["model"], {}), ctx())
            request_body = t.envelope("p", "r")["request"]
            assert request_body["contents"][-1]["role"] == "user"
            assert len(request_body["tools"][0]["functionDeclarations"]) == len(body["tools"])
            assert t.ctx.session_id == "sid-test"


def test_close_tool_loops_appends_results_for_a_trailing_call():
    contents = [{"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}, "id": "c"}}]}]
    closed = close_tool_loops(contents)
    assert closed[-1] == {"role": "user", "parts": [{"functionResponse": {
        "name": "f", "id": "c", "response": {"result": INTERRUPTED_RESULT}}}]}


# ------------------------------------------------------------------------------------------------ properties

_text = st.text(min_size=0, max_size=12)
_ids = st.sampled_from(["t1", "t2", "t3", "toolu_x"])
_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda i, n: {"type": "tool_use", "id": i, "name": n, "input": {"k": 1}}, _ids,
              st.sampled_from(["f", "g"])),
    st.builds(lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c, "is_error": e}, _ids,
              st.one_of(_text, st.lists(st.builds(lambda t: {"type": "text", "text": t}, _text), max_size=2)),
              st.booleans()),
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": s}, _text,
              st.sampled_from(["", E_SIG, GEM_SIG, "junk"])),
    st.just({"type": "redacted_thinking", "data": "x"}),
    st.just({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}),
)
_message = st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["user", "assistant", "system"]),
                     st.one_of(_text, st.lists(_block, max_size=4)))
_bodies = st.fixed_dictionaries(
    {"messages": st.lists(_message, min_size=1, max_size=6)},
    optional={"thinking": st.sampled_from([{"type": "adaptive"}, {"type": "disabled"},
                                           {"type": "enabled", "budget_tokens": 3000}]),
              "stop_sequences": st.lists(_text, max_size=7),
              "system": st.one_of(_text, st.lists(st.builds(lambda t: {"type": "text", "text": t}, _text)))})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies, st.sampled_from(["claude-opus-4-6-thinking", "claude-sonnet-4-6", "gemini-3-flash"]))
def test_valid_bodies_translate_or_raise_client_error(body: dict, model: str):
    try:
        t = tr(body, model=model)
    except ClientError:
        return  # e.g. every block empty: a clear 400, never a crash
    contents = t.contents
    assert contents and all(c["parts"] for c in contents)
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(contents))
    if model.startswith("claude"):
        assert contents[-1]["role"] == "user"
        for i, content in enumerate(contents):  # every call is answered right after, in order
            calls = [p["functionCall"]["id"] for p in content["parts"] if "functionCall" in p]
            if calls:
                answers = [p["functionResponse"]["id"] for p in contents[i + 1]["parts"] if "functionResponse" in p]
                assert answers == calls
        if not t.thinking_on:
            assert not any(p.get("thought") for c in contents for p in c["parts"])
        assert SENTINEL not in repr(contents)
    assert len(t.request()["generationConfig"].get("stopSequences", [])) <= 5
