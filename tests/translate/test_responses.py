"""OpenAI Responses API ⇄ upstream."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import resolve_model
from antigravityd.translate.responses import responses_request_to_upstream, tool_namespaces
from antigravityd.translate.responses_stream import ResponsesStreamTranslator
from antigravityd.translate.schema import TOOL_SCHEMA_KEYS
from antigravityd.translate.session import responses_session_id
from antigravityd.translate.signature_cache import MemorySignatureCache
from tests.support.responses_stream_check import check_responses_stream
from tests.support.schema_check import proto_schema_problems
from tests.translate.captures import bodies
from tests.translate.upstream_script import CLAUDE_SIG, SIG, USAGE, call, events, scripts, text, thought, wrap

FLASH = resolve_model("gemini-3-flash", {})
OPUS = resolve_model("claude-opus-4-6-thinking", {})
CTX = TranslateContext(request_id="r", session_id="sid-1")
SHELL = {"type": "function", "name": "exec_command", "parameters": {
    "type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"], "additionalProperties": False}}


def translate(body, route=FLASH, ctx=CTX):
    return responses_request_to_upstream(body, route, ctx)


def test_codex_capture():
    body = bodies("codex-cli.json", "/v1/responses")[0]
    request = translate(body, resolve_model("gpt-stub", {"gpt-stub": "gemini-3-flash"}))
    system = request["systemInstruction"]["parts"]
    assert system[0]["text"].startswith("You are a coding agent running in the Codex CLI")
    assert request["contents"][0]["role"] == "user" and request["contents"][0]["parts"][-1] == {"text": "hi"}
    names = [d["name"] for d in request["tools"][0]["functionDeclarations"]]
    assert "exec_command" in names and "close_agent" in names  # namespace tools are flattened
    for declaration in request["tools"][0]["functionDeclarations"]:
        assert proto_schema_problems(declaration.get("parameters", {}), TOOL_SCHEMA_KEYS) == []
    assert tool_namespaces(body)["close_agent"] == "multi_agent_v1"
    assert request["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}
    assert responses_session_id(body) == responses_session_id({"prompt_cache_key": body["prompt_cache_key"]})


def test_sdk_capture_string_input():
    body = bodies("openai-python-sdk.json", "/v1/responses")[0]
    assert translate(body)["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_function_call_round_trip_with_reasoning_signature():
    body = {"instructions": "Be brief.", "tools": [SHELL], "reasoning": {"effort": "low"}, "input": [
        {"role": "user", "content": "list files"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "run ls"}],
         "encrypted_content": CLAUDE_SIG},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
         "arguments": '{"cmd":"ls"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
    ]}
    request = translate(body, OPUS)
    assert request["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert request["contents"][1]["parts"] == [
        {"text": "run ls", "thought": True, "thoughtSignature": CLAUDE_SIG},
        {"functionCall": {"name": "exec_command", "args": {"cmd": "ls"}, "id": "call_1"}}]
    assert request["contents"][2]["parts"] == [{"functionResponse": {"name": "exec_command", "id": "call_1",
                                                                     "response": {"result": "a.txt"}}}]
    assert request["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}


def test_output_with_images_and_text_format():
    body = {"input": [
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo"}]},
        {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": [
            {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "https://x.test/i.jpg"}]}],
        "tools": [SHELL], "text": {"format": {"type": "json_schema", "name": "x", "schema": {
            "type": "object", "properties": {"a": {"type": "string"}}}}}, "max_output_tokens": 500}
    request = translate(body)
    assert request["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}}
    result = request["contents"][2]["parts"]
    assert result[0]["functionResponse"]["response"] == {"result": "see\n[1 attachment(s) below]"}
    assert result[1] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/i.jpg"}}
    config = request["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["maxOutputTokens"] == 500


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"input": []}, "input"), ({"input": 5}, "input"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"input": [{"type": "local_shell_call"}]}, "input[0].type"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]}, "input[0].arguments"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].image_url"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "file:///etc/passwd"}]}]},
     "input[0].content[0].image_url"),
    ({"input": "x", "tools": [{"type": "custom", "name": "apply_patch"}]}, "tools[0].type"),
    ({"input": "x", "tools": [SHELL], "tool_choice": {"type": "function", "name": "zsh"}}, "tool_choice"),
    ({"input": "x", "reasoning": {"effort": 3}}, "reasoning.effort"),
    ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"input": "x", "instructions": ["a"]}, "instructions"),
])
def test_malformed_bodies(body, param):
    with pytest.raises(ClientError) as info:
        translate(body)
    assert info.value.param == param


# ---------------------------------------------------------------------------------------------------- streams


def ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{next(counter):08d}"


def run(evts, *, truncated=False, family="gemini", namespaces=None):
    t = ResponsesStreamTranslator("gpt-stub", "resp_1", 1755850000, family=family, session_id="s", new_id=ids(),
                                  request_fields={"tools": [], "tool_choice": "auto"}, namespaces=namespaces)
    out = [e for ev in evts for e in t.feed(ev)]
    return t, out + t.finish(truncated=truncated)


EVENT = TypeAdapter(ResponseStreamEvent)


def sdk_final(evts):
    adapter = EVENT
    state = ResponseStreamState(input_tools=[], text_format=omit)
    for event in evts:
        state.handle_event(adapter.validate_python(event))  # raises on anything the SDK cannot follow
    return evts[-1]


def test_reasoning_text_and_call_sequence():
    upstream = [wrap([thought("plan the call")]), wrap([thought("", signature=CLAUDE_SIG)]),
                wrap([text("Running it.")]),
                wrap([call("close_agent", {"target": "a1"}, "toolu_1")], finish="STOP", usage=USAGE)]
    t, out = run(upstream, family="claude", namespaces={"close_agent": "multi_agent_v1"})
    kinds = [e["type"] for e in out]
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    final = check_responses_stream(out)
    Response.model_validate(final)
    reasoning, message, function_call = final["output"]
    assert reasoning["encrypted_content"] == CLAUDE_SIG and reasoning["summary"][0]["text"] == "plan the call"
    assert message["content"][0]["text"] == "Running it."
    assert function_call == {"id": "fc_00000003", "type": "function_call", "status": "completed",
                             "call_id": "toolu_1", "name": "close_agent", "arguments": '{"target":"a1"}',
                             "namespace": "multi_agent_v1"}
    assert final["usage"] == {"input_tokens": 88, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                              "output_tokens": 55, "output_tokens_details": {"reasoning_tokens": 40},
                              "total_tokens": 143}
    assert t.response() == final
    sdk_final(out)


def test_truncated_and_filtered_are_incomplete():
    _, out = run(events([text("partial")], finish=None), truncated=True)
    final = check_responses_stream(out)
    assert out[-1]["type"] == "response.incomplete" and final["incomplete_details"] == {
        "reason": "max_output_tokens"}
    _, out = run([wrap([text("x")], finish="SAFETY", usage=USAGE)])
    assert check_responses_stream(out)["incomplete_details"] == {"reason": "content_filter"}
    _, out = run([], truncated=True)
    assert check_responses_stream(out)["output"] == []


def test_reasoning_signature_round_trips_through_a_second_request():
    t, out = run([wrap([thought("think about the listing", signature=CLAUDE_SIG)]),
                  wrap([call("exec_command", {"cmd": "ls"}, "toolu_9")], finish="STOP", usage=USAGE)],
                 family="claude")
    final = check_responses_stream(out)
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember_all(t.signatures)
    history = [{"role": "user", "content": "list"}, *final["output"],
               {"type": "function_call_output", "call_id": "toolu_9", "output": "a.txt"}]
    for item in history:
        item.pop("status", None)
    request = translate({"input": history, "tools": [SHELL]}, OPUS,
                        TranslateContext(request_id="r", session_id="s", signatures=cache))
    assert request["contents"][1]["parts"][0] == {"text": "think about the listing", "thought": True,
                                                  "thoughtSignature": CLAUDE_SIG}
    assert "thinkingConfig" in request["generationConfig"]  # the loop kept its signed thinking


@settings(max_examples=200, deadline=None)
@given(scripts, st.lists(st.integers(0, 50), max_size=8), st.booleans(), st.sampled_from(["claude", "gemini"]))
def test_any_upstream_stream_is_a_valid_sequence(script, cuts, truncated, family):
    t, out = run(events(script, cuts, finish=None if truncated else "STOP"), truncated=truncated, family=family)
    final = check_responses_stream(out)
    Response.model_validate(final)
    sdk_final(out)
    calls = [p["functionCall"] for p in script if "functionCall" in p]
    items = [i for i in final["output"] if i["type"] == "function_call"]
    assert [(i["name"], json.loads(i["arguments"])) for i in items] == [(c["name"], c["args"]) for c in calls]
    visible = "".join(c["text"] for i in final["output"] if i["type"] == "message" for c in i["content"])
    expected = "".join(p["text"] if "text" in p else f"![image](data:{p['inlineData']['mimeType']};base64,"
                       f"{p['inlineData']['data']})" for p in script
                       if ("text" in p and not p.get("thought")) or "inlineData" in p)
    assert visible == expected
    assert t.response() == final
    assert all(s.family == family for s in t.signatures)
    if SIG in json.dumps(script) and family == "gemini":
        assert t.signatures


words = st.text(min_size=1, max_size=15).filter(str.strip)


@st.composite
def responses_bodies(draw):
    items = [{"role": "developer", "content": draw(words)}]
    counter = 0
    for _ in range(draw(st.integers(1, 4))):
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": draw(words)}]})
        if draw(st.booleans()):
            items.append({"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": draw(words)}],
                          "encrypted_content": draw(st.sampled_from([CLAUDE_SIG, SIG]))})
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            counter += 1
            calls.append(f"call_{counter}")
            items.append({"type": "function_call", "call_id": calls[-1], "name": "exec_command",
                          "arguments": json.dumps({"cmd": draw(words)})})
        for call_id in draw(st.permutations(calls)):
            items.append({"type": "function_call_output", "call_id": call_id, "output": draw(words)})
        if draw(st.booleans()):
            items.append({"role": "assistant", "content": [{"type": "output_text", "text": draw(words)}]})
    return {"model": "gpt-5", "input": items, "tools": [SHELL],
            "reasoning": {"effort": draw(st.sampled_from(["low", "medium", "high", "none"]))}}


@settings(max_examples=150, deadline=None)
@given(responses_bodies(), st.sampled_from([FLASH, OPUS]))
def test_valid_responses_bodies_translate_and_keep_texts_and_pairs(body, route):
    request = translate(body, route)
    texts = [p["text"] for c in request["contents"] for p in c["parts"] if "text" in p and not p.get("thought")]
    for item in body["input"]:
        if item.get("role") == "user":
            assert item["content"][0]["text"] in texts
    contents = request["contents"]
    for i, content in enumerate(contents):
        calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
        if calls:
            ids_ = [p["functionResponse"]["id"] for p in contents[i + 1]["parts"] if "functionResponse" in p]
            assert ids_ == [c["id"] for c in calls]
    assert request["systemInstruction"]["parts"][0]["text"] == body["input"][0]["content"]
