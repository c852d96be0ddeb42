"""Responses API and legacy completions translators: request mapping, event sequences, properties."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.translate.completions import CompletionStreamTranslator, translate_completion
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import resolve_model
from antigravityd.translate.responses_request import translate_responses
from antigravityd.translate.responses_stream import ResponsesStreamTranslator
from antigravityd.translate.signature_cache import MemorySignatureCache
from tests.support.responses_stream_check import check_responses_stream
from tests.translate.captures import bodies

R_SIG = "RXF3" + "Q" * 80
GEM_SIG = "EqQB" + "g" * 70


def ctx() -> TranslateContext:
    return TranslateContext(request_id="r", session_id="sid-x", signatures=MemorySignatureCache(lambda: 0.0))


def tr(body: dict, model: str = "gemini-3-flash"):
    body = {"model": model, **body}
    return translate_responses(body, resolve_model(model, {}), ctx())


# ------------------------------------------------------------------------------------------------ requests


def test_string_input_and_instructions():
    t = tr({"input": "hi", "instructions": "Be brief."})
    request = t.request()
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert request["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_items_roles_calls_outputs_and_images():
    t = tr({"input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev rule"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBO"},
                                     {"type": "input_image", "image_url": "https://x.test/p.webp"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"n\": \"3\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "three"},
    ], "tools": [{"type": "function", "name": "f", "parameters": {"type": "object",
                                                                  "properties": {"n": {"type": "integer"}}}}]})
    request = t.request()
    assert request["systemInstruction"]["parts"] == [{"text": "dev rule"}]
    user, model, answer = request["contents"]
    assert user["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
    assert user["parts"][2] == {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/p.webp"}}
    assert model["parts"][0] == {"text": "calling"}
    assert model["parts"][1]["functionCall"] == {"name": "f", "args": {"n": 3}, "id": "c1"}
    assert answer["parts"][0]["functionResponse"] == {"name": "f", "id": "c1", "response": {"result": "three"}}


def test_namespace_and_custom_tools():
    t = tr({"input": [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "close_agent", "namespace": "agents", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "closed"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"}],
        "tools": [{"type": "namespace", "name": "agents", "description": "d",
                   "tools": [{"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]},
                  {"type": "custom", "name": "apply_patch", "description": "patch",
                   "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
                  {"type": "web_search", "external_web_access": False}, {"type": "file_search"}]})
    names = [d["name"] for d in t.request()["tools"][0]["functionDeclarations"]]
    assert names == ["agents__close_agent", "apply_patch"]
    assert t.tool_names["agents__close_agent"].namespace == "agents" and t.tool_names["apply_patch"].custom
    calls = [p["functionCall"] for c in t.contents for p in c["parts"] if "functionCall" in p]
    assert calls[0]["name"] == "agents__close_agent" and calls[1]["args"] == {"input": "*** Begin Patch"}


def test_reasoning_settings_and_format():
    t = tr({"input": "x", "reasoning": {"effort": "high", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "max_output_tokens": 900, "text": {"format": {"type": "json_schema", "name": "s",
                                                          "schema": {"type": "object", "properties": {}}}}})
    config = t.request()["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "high"}
    assert config["maxOutputTokens"] == 900 and config["responseMimeType"] == "application/json"
    assert t.show_reasoning and t.encrypted_reasoning


def test_reasoning_items_carry_signatures_back():
    t = tr({"input": [{"role": "user", "content": "q"},
                      {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}],
                       "encrypted_content": R_SIG},
                      {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c", "output": "ok"}],
            "tools": [{"type": "function", "name": "f"}], "reasoning": {"effort": "low"}}, model="claude-opus-4-6")
    first = t.contents[1]["parts"][0]
    assert first == {"text": "thought", "thought": True, "thoughtSignature": R_SIG} and t.thinking_on


@pytest.mark.parametrize("body, param", [
    ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"input": []}, "input"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "/etc/passwd"}]}]},
     "input[0].content[0].image_url"),
    ({"input": "x", "tools": [{"type": "teleport"}]}, "tools[0].type"),
    ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
])
def test_client_errors(body: dict, param: str):
    with pytest.raises(ClientError) as info:
        tr(body)
    assert info.value.param == param


def test_codex_capture_translates():
    body = bodies("codex-cli.json", "/v1/responses")[0]
    t = tr(body)
    declared = [d["name"] for d in t.request()["tools"][0]["functionDeclarations"]]
    assert "exec_command" in declared and any(n.startswith("multi_agent_v1__") for n in declared)
    assert t.request()["systemInstruction"]["parts"][0]["text"].startswith("You are a coding agent")


# ------------------------------------------------------------------------------------------------ stream


def event(*parts: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r", "usageMetadata": usage or {"promptTokenCount": 7}}


def run(events: list[dict], *, truncated: bool = False, **kw: Any):
    t = ResponsesStreamTranslator(model="gpt-x", response_id="resp_1", created_at=1, family=kw.pop("family", "claude"),
                                  session_id="sid", **kw)
    out = []
    for e in events:
        out += t.feed(e)
    out += t.finish(truncated=truncated)
    final = check_responses_stream(out)
    assert final == t.response()
    return t, out, final


def test_reasoning_text_and_calls():
    _, out, final = run([event({"text": "think", "thought": True}), event({"text": "", "thought": True,
                                                                         "thoughtSignature": R_SIG}),
                         event({"text": "Hello"}, {"text": " world"}),
                         event({"functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_1"}}, finish="STOP",
                               usage={"promptTokenCount": 7, "candidatesTokenCount": 5})],
                        show_reasoning=True, encrypted_reasoning=True)
    assert [i["type"] for i in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "think"}]
    assert final["output"][0]["encrypted_content"] == R_SIG
    assert final["output"][1]["content"][0]["text"] == "Hello world"
    assert final["output"][2]["call_id"] == "toolu_1" and json.loads(final["output"][2]["arguments"]) == {"a": 1}
    assert final["usage"]["input_tokens"] == 7 and final["usage"]["output_tokens"] == 5
    assert out[-1][0] == "response.completed"


def test_hidden_reasoning_still_returns_the_signature_when_asked():
    _, _, shown = run([event({"text": "x", "thought": True, "thoughtSignature": R_SIG}), event({"text": "a"})],
                      encrypted_reasoning=True)
    assert shown["output"][0] == {"id": shown["output"][0]["id"], "type": "reasoning", "summary": [],
                                  "encrypted_content": R_SIG}
    _, _, hidden = run([event({"text": "x", "thought": True, "thoughtSignature": R_SIG}), event({"text": "a"})])
    assert [i["type"] for i in hidden["output"]] == ["message"]


def test_namespaced_and_custom_calls_come_back_split():
    from antigravityd.translate.responses_request import ToolName

    names = {"ns__f": ToolName("f", "ns"), "patch": ToolName("patch", custom=True)}
    _, _, final = run([event({"functionCall": {"name": "ns__f", "args": {}}},
                             {"functionCall": {"name": "patch", "args": {"input": "diff"}}}, finish="STOP")],
                      family="gemini", tool_names=names)
    fn, custom = final["output"]
    assert fn["name"] == "f" and fn["namespace"] == "ns" and fn["call_id"].startswith("call_")
    assert custom["type"] == "custom_tool_call" and custom["input"] == "diff" and custom["name"] == "patch"
    assert fn["call_id"] != custom["call_id"]


def test_incomplete_answers():
    assert run([event({"text": "a"}, finish="MAX_TOKENS")])[2]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert run([event({"text": "a"})], truncated=True)[2]["status"] == "incomplete"
    assert run([event({"text": "a"}, finish="SAFETY")])[2]["incomplete_details"] == {"reason": "content_filter"}


_part = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(max_size=6)),
    st.builds(lambda t: {"text": t, "thought": True}, st.text(max_size=6)),
    st.just({"text": "", "thought": True, "thoughtSignature": R_SIG}),
    st.just({"text": "", "thoughtSignature": GEM_SIG}),
    st.builds(lambda n: {"functionCall": {"name": n, "args": {"k": n}}}, st.sampled_from(["f", "g"])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_part, max_size=10), st.lists(st.integers(0, 10), max_size=4), st.lists(st.integers(0, 10),
                                                                                      max_size=4),
       st.booleans(), st.booleans(), st.sampled_from(["claude", "gemini"]))
def test_any_chunking_gives_the_same_valid_response(parts, cuts_a, cuts_b, show, encrypted, family):
    def chunked(cuts):
        bounds = sorted({0, len(parts), *[min(c, len(parts)) for c in cuts]})
        return [event(*parts[a:b]) for a, b in itertools.pairwise(bounds)] + [event(finish="STOP")]

    kw = {"show_reasoning": show, "encrypted_reasoning": encrypted, "family": family}
    assert run(chunked(cuts_a), **kw)[2] == run(chunked(cuts_b), **kw)[2]


# ------------------------------------------------------------------------------------------------ completions


def test_completions():
    t = translate_completion({"prompt": ["Once"], "max_tokens": 20, "stop": "\n", "n": 2, "echo": True},
                             resolve_model("gemini-3-flash", {}), ctx())
    request = t.envelope("p", "r")["request"]
    assert request["contents"] == [{"role": "user", "parts": [{"text": "Once"}]}]
    assert request["generationConfig"]["candidateCount"] == 2 and request["generationConfig"]["stopSequences"] == ["\n"]
    c = CompletionStreamTranslator(model="m", completion_id="cmpl-1", created=1, prompt="Once", echo=True, choices=2)
    chunks = c.feed({"candidates": [{"content": {"parts": [{"text": " upon"}, {"text": "t", "thought": True}]}},
                                    {"index": 1, "content": {"parts": [{"text": " a"}]}, "finishReason": "MAX_TOKENS"}],
                     "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}})
    chunks += c.finish(truncated=False)
    assert [ch["choices"][0]["text"] for ch in chunks] == ["Once", "Once", " upon", " a", "", ""]
    done = c.completion()
    assert [ch["text"] for ch in done["choices"]] == ["Once upon", "Once a"]
    assert [ch["finish_reason"] for ch in done["choices"]] == ["stop", "length"]
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    for bad in ({"prompt": [1, 2]}, {"prompt": "x", "suffix": "y"}, {"prompt": "x", "n": 99}, {"prompt": ""}):
        with pytest.raises(ClientError):
            translate_completion(bad, resolve_model("gemini-3-flash", {}), ctx())
