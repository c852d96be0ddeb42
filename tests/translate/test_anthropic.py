"""Anthropic Messages ⇄ upstream (upstream-protocol §8.3, §8.4)."""

import copy
import itertools
import json

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from antigravityd.translate.anthropic import messages_request_to_upstream
from antigravityd.translate.anthropic_stream import AnthropicStreamTranslator, anthropic_stop_reason
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import resolve_model
from antigravityd.translate.schema import TOOL_SCHEMA_KEYS
from antigravityd.translate.session import anthropic_session_id
from antigravityd.translate.signature_cache import SENTINEL, MemorySignatureCache
from tests.support.anthropic_stream_check import check_messages_stream
from tests.support.schema_check import proto_schema_problems
from tests.translate.captures import bodies
from tests.translate.upstream_script import (
    CLAUDE_SIG,
    SIG,
    USAGE,
    call,
    events,
    image,
    scripts,
    text,
    thought,
    wrap,
)

OPUS = resolve_model("claude-opus-4-8", {})
FLASH = resolve_model("gemini-3-flash", {})
CTX = TranslateContext(request_id="agent-1", session_id="sid-1")


def translate(body, route=OPUS, ctx=CTX):
    return messages_request_to_upstream(body, route, ctx)


def tool_round(result_block=None):
    return [
        {"role": "user", "content": "List files in /tmp"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should run ls.", "signature": CLAUDE_SIG},
            {"type": "text", "text": "Listing."},
            {"type": "tool_use", "id": "toolu_vrtx_01AbCdEf", "name": "bash", "input": {"command": "ls /tmp"}}]},
        {"role": "user", "content": [result_block or {"type": "tool_result", "tool_use_id": "toolu_vrtx_01AbCdEf",
                                                      "content": "a.txt\nb.txt"}]},
    ]


BASH = {"name": "bash", "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}


# ---------------------------------------------------------------------------------------------------- requests


def test_claude_code_captures_translate():
    for body in bodies("claude-code.json", "/v1/messages"):
        ctx = TranslateContext(request_id="r", session_id=anthropic_session_id(body))
        request = translate(body, ctx=ctx)
        system = [p["text"] for p in request["systemInstruction"]["parts"]]
        assert not any(t.startswith("x-anthropic-billing-header") for t in system)
        assert any("Claude agent" in t for t in system)
        for declaration in request["tools"][0]["functionDeclarations"]:
            assert proto_schema_problems(declaration["parameters"], TOOL_SCHEMA_KEYS) == []
        assert "cache_control" not in json.dumps(request)
        config = request["generationConfig"]
        assert config["maxOutputTokens"] == 64_000
        if len(body["messages"]) == 1:  # (the tool round trip below turns thinking off)
            assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24_576}  # adaptive+high
        envelope = build_envelope(request, OPUS, ctx)
        assert envelope["model"] == "claude-opus-4-6-thinking"
        assert envelope["request"]["sessionId"].startswith("sid-")


def test_claude_code_tool_roundtrip_capture():
    body = bodies("claude-code.json", "/v1/messages")[-1]
    request = translate(body)
    model, result = request["contents"][1], request["contents"][2]
    assert model["parts"] == [{"functionCall": {"name": "Read", "args": {
        "file_path": "/home/user/project/hello.txt"}, "id": "toolu_stub1"}}]
    assert result["parts"][0]["functionResponse"] == {"name": "Read", "id": "toolu_stub1",
                                                      "response": {"result": "1\tsecret-content-42\n2\t"}}
    # the tool loop lost its thinking block: thinking is switched off instead of a 400 upstream
    assert "thinkingConfig" not in request["generationConfig"]


def test_sdk_capture():
    for body in bodies("anthropic-python-sdk.json", "/v1/messages"):
        request = translate(body, resolve_model("claude-stub", {"claude-stub": "claude-sonnet-4-6"}))
        assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
        assert request["generationConfig"] == {"maxOutputTokens": 64}


def test_thinking_tool_use_and_results_claude():
    body = {"model": "claude-opus-4-6", "max_tokens": 1000, "system": "Be terse.", "messages": tool_round(),
            "tools": [BASH], "thinking": {"type": "enabled", "budget_tokens": 2000}}
    request = translate(body)
    assert request["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert request["contents"][1]["parts"] == [
        {"text": "I should run ls.", "thought": True, "thoughtSignature": CLAUDE_SIG},
        {"text": "Listing."},
        {"functionCall": {"name": "bash", "args": {"command": "ls /tmp"}, "id": "toolu_vrtx_01AbCdEf"}}]
    assert request["contents"][2]["parts"] == [{"functionResponse": {
        "name": "bash", "id": "toolu_vrtx_01AbCdEf", "response": {"result": "a.txt\nb.txt"}}}]
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert request["generationConfig"] == {"maxOutputTokens": 10_192,
                                           "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2000}}


def test_same_history_to_gemini_drops_foreign_thinking_and_signs_the_call():
    cache = MemorySignatureCache(lambda: 0.0)
    from antigravityd.translate.signature_cache import SeenSignature
    cache.remember(SeenSignature("session", "other", CLAUDE_SIG, "claude"))
    ctx = TranslateContext(request_id="r", session_id="s", signatures=cache)
    request = translate({"messages": tool_round(), "tools": [BASH]}, FLASH, ctx)
    parts = request["contents"][1]["parts"]
    assert parts[0] == {"text": "Listing."}
    assert parts[1]["thoughtSignature"] == SENTINEL
    assert "toolConfig" not in request


def test_tool_result_shapes():
    def result(block):
        return translate({"messages": tool_round(block), "tools": [BASH]})["contents"][2]["parts"]

    base = {"type": "tool_result", "tool_use_id": "toolu_vrtx_01AbCdEf"}
    assert result(base)[0]["functionResponse"]["response"] == {"result": "Command executed successfully."}
    assert result({**base, "is_error": True})[0]["functionResponse"]["response"] == {
        "error": "Tool execution failed with no output."}
    assert result({**base, "is_error": True, "content": "boom"})[0]["functionResponse"]["response"] == {
        "error": "boom"}
    parts = result({**base, "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"},
                                        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                     "data": "iVBORw0KGgo"}}],
                    "cache_control": {"type": "ephemeral"}})
    assert parts[0]["functionResponse"]["response"] == {"result": "one\ntwo\n[1 image(s) attached below]"}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}}


def test_parallel_results_keep_call_order_and_images_follow():
    messages = [
        {"role": "user", "content": "two things"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "bash", "input": {"command": "1"}},
                                          {"type": "tool_use", "id": "b", "name": "bash", "input": {"command": "2"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "b", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]},
            {"type": "text", "text": "and then?"},
            {"type": "tool_result", "tool_use_id": "a", "content": "one"}]},
    ]
    parts = translate({"messages": messages, "tools": [BASH]})["contents"][2]["parts"]
    assert [p.get("functionResponse", {}).get("id") for p in parts[:2]] == ["a", "b"]
    assert parts[2:] == [{"text": "and then?"}, {"fileData": {"mimeType": "image/png",
                                                              "fileUri": "https://x.test/a.png"}}]


def test_broken_tool_loop_is_closed_or_refused():
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {}}]},
                {"role": "user", "content": "never mind, do something else"}]
    request = translate({"messages": messages, "tools": [BASH]})
    assert request["contents"][2]["parts"][0]["functionResponse"]["response"]["result"].startswith(
        "Tool execution interrupted")
    strict = TranslateContext(request_id="r", session_id="s", tool_loop_recovery=False)
    with pytest.raises(ClientError, match="t1"):
        translate({"messages": messages, "tools": [BASH]}, ctx=strict)


def test_system_role_inside_messages_redacted_thinking_and_same_role_merge():
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "system", "content": "mid-conversation note"},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xyz"},
                                                  {"type": "text", "text": "(no content)"}, {"type": "text",
                                                                                             "text": "reply"}]},
                {"role": "assistant", "content": "more"}]
    request = translate({"messages": messages, "system": [{"type": "text", "text": "top"}]})
    assert request["systemInstruction"]["parts"] == [{"text": "top"}, {"text": "mid-conversation note"}]
    assert request["contents"][:2] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                                       {"role": "model", "parts": [{"text": "reply"}, {"text": "more"}]}]
    assert request["contents"][-1] == {"role": "user", "parts": [{"text": "Continue."}]}  # no prefill for Claude


def test_images_and_documents():
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
               {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                               "data": "JVBERi0x"}},
               {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
               {"type": "text", "text": "describe"}]
    parts = translate({"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                     {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
                     {"text": "plain doc"}, {"text": "describe"}]
    for url in ("file:///etc/shadow", "/home/user/.ssh/id_rsa"):
        with pytest.raises(ClientError):
            translate({"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "url", "url": url}}]}]})


def test_tool_choice_stop_sequences_sampling_and_search():
    base = {"messages": [{"role": "user", "content": "x"}], "tools": [BASH]}
    assert translate({**base, "tool_choice": {"type": "tool", "name": "bash"}})["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["bash"]}}
    assert translate({**base, "tool_choice": {"type": "none"}})["toolConfig"]["functionCallingConfig"] == {
        "mode": "NONE"}
    config = translate({**base, "stop_sequences": ["END"], "temperature": 0.5, "top_k": 5,
                        "thinking": {"type": "disabled"}}, FLASH)["generationConfig"]
    assert config == {"temperature": 0.5, "topK": 5, "stopSequences": ["END"],
                      "thinkingConfig": {"includeThoughts": False, "thinkingLevel": "minimal"}}
    search = translate({"messages": [{"role": "user", "content": "news"}],
                        "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, FLASH)
    assert search["tools"] == [{"googleSearch": {}}]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope"}]}]},
     "messages[0].content[0].tool_use_id"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "x", "name": "bash",
                                                      "input": "ls"}]}]}, "messages[0].content[0].input"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "messages[0].content[0].source.type"),
    ({"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "sometimes"}}, "thinking.type"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 1.5}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "bash_20250124", "name": "bash"}]},
     "tools[0].type"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [BASH], "tool_choice": {"type": "tool",
                                                                                      "name": "zsh"}},
     "tool_choice.name"),
])
def test_malformed_bodies(body, param):
    with pytest.raises(ClientError) as info:
        translate(body)
    assert info.value.param == param


# ---------------------------------------------------------------------------------------------------- streams


def ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{next(counter):024d}"


def run(evts, *, truncated=False, family="claude"):
    t = AnthropicStreamTranslator("claude-opus-4-6", "msg_vrtx_01Abc", family=family, session_id="s", new_id=ids())
    out = [e for ev in evts for e in t.feed(ev)]
    return t, out + t.finish(truncated=truncated)


EVENT = TypeAdapter(RawMessageStreamEvent)


def sdk_message(evts):
    adapter = EVENT
    snapshot = None
    for event in evts:
        snapshot = accumulate_event(event=adapter.validate_python(event), current_snapshot=snapshot, json_bufs={})
    return snapshot


def test_spec_example_8_4():
    upstream = [
        wrap([thought("The user wants the file list.")], usage={"promptTokenCount": 3021, "totalTokenCount": 3021}),
        wrap([thought("", signature=CLAUDE_SIG)]),
        wrap([text("I'll list the directory.")]),
        wrap([call("bash", {"command": "ls /tmp"}, "toolu_vrtx_01PqRsTuVwXyZ")], finish="STOP",
             usage={"promptTokenCount": 3021, "candidatesTokenCount": 64, "totalTokenCount": 3085}),
    ]
    t, out = run(upstream)
    assert [e["type"] for e in out] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "content_block_start",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert out[0]["message"]["usage"] == {"input_tokens": 3021, "output_tokens": 0, "cache_read_input_tokens": 0,
                                          "cache_creation_input_tokens": 0}
    assert out[3]["delta"] == {"type": "signature_delta", "signature": CLAUDE_SIG}
    assert out[8]["content_block"] == {"type": "tool_use", "id": "toolu_vrtx_01PqRsTuVwXyZ", "name": "bash",
                                       "input": {}}
    assert out[9]["delta"] == {"type": "input_json_delta", "partial_json": '{"command":"ls /tmp"}'}
    assert out[11] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"input_tokens": 3021, "output_tokens": 64, "cache_read_input_tokens": 0,
                                 "cache_creation_input_tokens": 0}}
    assembled = check_messages_stream(out)
    message = t.message()
    Message.model_validate(message)
    assert assembled["content"] == message["content"] == [
        {"type": "thinking", "thinking": "The user wants the file list.", "signature": CLAUDE_SIG},
        {"type": "text", "text": "I'll list the directory."},
        {"type": "tool_use", "id": "toolu_vrtx_01PqRsTuVwXyZ", "name": "bash", "input": {"command": "ls /tmp"}}]
    assert sdk_message(out).model_dump(exclude_none=True)["content"] == message["content"]


def test_gemini_signatures_stay_in_the_cache_and_ids_are_generated():
    t, out = run(events([thought("plan"), call("get_weather", {"city": "Paris"}, signature=SIG),
                         text("", signature=SIG)]), family="gemini")
    message = check_messages_stream(out)
    assert message["content"][0] == {"type": "thinking", "thinking": "plan", "signature": ""}
    assert message["content"][1]["id"] == "toolu_000000000000000000000001"
    assert any(s.kind == "tool_call" and s.key == "toolu_000000000000000000000001" for s in t.signatures)


def test_signature_without_open_thinking_becomes_synthetic_block():
    _, out = run([wrap([text("answer")]), wrap([thought("", signature=CLAUDE_SIG)], finish="STOP", usage=USAGE)])
    message = check_messages_stream(out)
    assert message["content"][1] == {"type": "thinking", "thinking": "", "signature": CLAUDE_SIG}


@pytest.mark.parametrize(("upstream", "calls", "truncated", "expected"), [
    ("STOP", False, False, "end_turn"), ("STOP", True, False, "tool_use"), ("MAX_TOKENS", False, False, "max_tokens"),
    ("SAFETY", False, False, "refusal"), (None, False, True, "max_tokens"), (None, True, True, "max_tokens"),
    ("OTHER", False, False, "end_turn"),
])
def test_stop_reasons(upstream, calls, truncated, expected):
    assert anthropic_stop_reason(upstream, made_calls=calls, truncated=truncated) == expected


def test_truncated_and_empty_streams_are_well_formed():
    t, out = run(events([text("partial")], finish=None), truncated=True)
    assert check_messages_stream(out)["stop_reason"] == "max_tokens" and t.truncated
    t, out = run([], truncated=True)
    assert check_messages_stream(out)["content"] == [] and t.message()["content"] == []
    with pytest.raises(RuntimeError):
        AnthropicStreamTranslator("m", "msg_1").message()


@settings(max_examples=200, deadline=None)
@given(scripts, st.lists(st.integers(0, 50), max_size=8), st.booleans(), st.sampled_from(["claude", "gemini"]))
def test_any_upstream_stream_gives_a_valid_sequence_equal_to_the_message(script, cuts, truncated, family):
    t, out = run(events(script, cuts, finish=None if truncated else "STOP"), truncated=truncated, family=family)
    assembled = check_messages_stream(out)
    message = t.message()
    Message.model_validate(message)
    assert assembled["content"] == message["content"]
    assert assembled["stop_reason"] == message["stop_reason"]
    assert sdk_message(copy.deepcopy(out)).model_dump(exclude_none=True)["content"] == message["content"]
    calls = [p["functionCall"] for p in script if "functionCall" in p]
    tool_uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [(b["name"], b["input"]) for b in tool_uses] == [(c["name"], c["args"]) for c in calls]
    visible = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    expected = "".join(p["text"] if "text" in p else f"![image](data:{p['inlineData']['mimeType']};base64,"
                       f"{p['inlineData']['data']})" for p in script
                       if ("text" in p and not p.get("thought")) or "inlineData" in p)
    assert visible == expected


def test_image_output_as_markdown():
    _, out = run(events([image()]))
    assert check_messages_stream(out)["content"][0]["text"].startswith("![image](data:image/png;base64,")


# ---------------------------------------------------------------------------------------------------- properties

words = st.text(min_size=1, max_size=15).filter(lambda t: t.strip() and t != "(no content)")


@st.composite
def messages_bodies(draw):
    messages = []
    counter = 0
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(words) if draw(st.booleans()) else [
            {"type": "text", "text": draw(words), "cache_control": {"type": "ephemeral"}}]})
        if draw(st.booleans()):
            blocks = []
            if draw(st.booleans()):
                blocks.append({"type": "thinking", "thinking": draw(words),
                               "signature": draw(st.sampled_from([CLAUDE_SIG, SIG, "short"]))})
            if draw(st.booleans()):
                blocks.append({"type": "text", "text": draw(words)})
            ids_ = []
            for _ in range(draw(st.integers(0, 3))):
                counter += 1
                ids_.append(f"toolu_{counter}")
                blocks.append({"type": "tool_use", "id": ids_[-1], "name": "bash",
                               "input": {"command": draw(words)}})
            if not blocks:
                blocks.append({"type": "text", "text": draw(words)})
            messages.append({"role": "assistant", "content": blocks})
            if ids_:
                answered = draw(st.lists(st.sampled_from(ids_), unique=True))
                results = [{"type": "tool_result", "tool_use_id": i, "content": draw(words),
                            "is_error": draw(st.booleans())} for i in answered]
                messages.append({"role": "user", "content": results or [{"type": "text", "text": draw(words)}]})
    body = {"model": "claude-opus-4-6", "max_tokens": draw(st.integers(1, 100_000)), "messages": messages,
            "tools": [BASH]}
    thinking = draw(st.sampled_from([None, {"type": "adaptive"}, {"type": "disabled"},
                                     {"type": "enabled", "budget_tokens": 5000}]))
    if thinking:
        body["thinking"] = thinking
    return body


@settings(max_examples=150, deadline=None)
@given(messages_bodies(), st.sampled_from([OPUS, FLASH, resolve_model("claude-sonnet-4-6", {})]))
def test_valid_messages_bodies_translate_and_keep_texts_and_pairs(body, route):
    request = translate(body, route)
    texts = [p["text"] for c in request["contents"] for p in c["parts"] if "text" in p and not p.get("thought")]
    for message in body["messages"]:
        content = message["content"]
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if block["type"] == "text" and message["role"] == "user":
                assert block["text"] in texts
    contents = request["contents"]
    for i, content in enumerate(contents):
        calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
        if calls:
            ids_ = [p["functionResponse"]["id"] for p in contents[i + 1]["parts"] if "functionResponse" in p]
            assert ids_ == [c["id"] for c in calls]
        if route.family == "claude" and content["role"] == "model":
            # unknown signatures are kept (the cache is empty here), never the sentinel or short junk
            assert all(p.get("thoughtSignature") in (None, CLAUDE_SIG, SIG) for p in content["parts"])
            assert all("thoughtSignature" not in p for p in content["parts"] if not p.get("thought"))
            thoughts = [k for k, p in enumerate(content["parts"]) if p.get("thought")]
            assert thoughts == list(range(len(thoughts)))  # thinking first
    assert "cache_control" not in json.dumps(request)
    assert contents[0]["role"] == "user" and (route.family != "claude" or contents[-1]["role"] == "user")
    limit = request["generationConfig"].get("maxOutputTokens")
    budget = request["generationConfig"].get("thinkingConfig", {}).get("thinkingBudget")
    assert not (limit and budget) or limit > budget
