"""Gemini-native request pass-through (upstream-protocol §8.5) and the response side."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import IDENTITY_PROMPT, build_envelope
from antigravityd.translate.errors import ClientError
from antigravityd.translate.gemini_native import count_tokens_request, gemini_request_to_upstream
from antigravityd.translate.gemini_stream import GeminiStreamTranslator
from antigravityd.translate.models import resolve_model
from antigravityd.translate.schema import RESPONSE_SCHEMA_KEYS, TOOL_SCHEMA_KEYS
from antigravityd.translate.signature_cache import SENTINEL, MemorySignatureCache, SeenSignature
from antigravityd.translate.signatures import call_key
from tests.support.schema_check import proto_schema_problems
from tests.translate.captures import bodies, gemini_cli_router_body, gemini_cli_stream_body
from tests.translate.upstream_script import CLAUDE_SIG, SIG, USAGE, call, events, scripts, text, thought, wrap

CTX = TranslateContext(request_id="agent-1", session_id="sid-0c2f000000000000")
FLASH = resolve_model("gemini-3-flash", {})
CLAUDE = resolve_model("claude-sonnet-4-6", {})


def translate(body, route=FLASH, ctx=CTX):
    return gemini_request_to_upstream(body, route, ctx)


def test_spec_example_8_5():
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}}
    envelope = build_envelope(translate(body), FLASH, CTX)
    assert envelope["request"] == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}},
        "systemInstruction": {"role": "user", "parts": [{"text": IDENTITY_PROMPT}]},
        "sessionId": "sid-0c2f000000000000",
    }


def test_google_genai_sdk_capture():
    for body in bodies("google-genai-python-sdk.json", "models/"):
        request = translate(body, resolve_model("gemini-stub", {"gemini-stub": "gemini-3-flash"}))
        assert request == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {}}


def test_gemini_cli_router_call_keeps_json_mode_and_level():
    body = gemini_cli_router_body()
    route = resolve_model("gemini-3.5-flash-lite", {})
    request = translate(body, route)
    config = request["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert proto_schema_problems(config["responseSchema"], RESPONSE_SCHEMA_KEYS) == []
    assert config["responseSchema"]["required"] == ["complexity_reasoning", "complexity_score"]
    assert config["responseSchema"]["properties"]["complexity_score"]["type"] == "integer"
    assert "responseJsonSchema" not in config
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "high"}
    assert (config["temperature"], config["topP"], config["topK"]) == (1, 0.95, 64)
    # two consecutive user contents are merged into one turn
    assert [c["role"] for c in request["contents"]] == ["user"]
    assert len(request["contents"][0]["parts"]) == 2
    assert request["systemInstruction"]["parts"][0]["text"].lstrip().startswith("You are a specialized")


def test_gemini_cli_stream_call_tools():
    body = gemini_cli_stream_body()
    request = translate(body, resolve_model("gemini-3.8-flash", {}))
    (tool,) = request["tools"]
    names = [d["name"] for d in tool["functionDeclarations"]]
    assert names == [d["name"] for d in body["tools"][0]["functionDeclarations"]]
    assert "google_web_search" in names  # the CLI's own tool, not a grounding request
    for declaration in tool["functionDeclarations"]:
        assert "parametersJsonSchema" not in declaration
        assert proto_schema_problems(declaration["parameters"], TOOL_SCHEMA_KEYS) == []
    read_file = next(d for d in tool["functionDeclarations"] if d["name"] == "read_file")
    assert "minimum: 1" in read_file["parameters"]["properties"]["start_line"]["description"]
    envelope = build_envelope(request, resolve_model("gemini-3.8-flash", {}), CTX)
    assert envelope["requestType"] == "agent"
    parts = envelope["request"]["systemInstruction"]["parts"]
    assert parts[0]["text"] == IDENTITY_PROMPT and parts[1]["text"].startswith("You are Gemini CLI")


def test_snake_case_body_is_normalised_but_data_is_not():
    body = {"system_instruction": {"parts": [{"text": "sys"}]},
            "contents": [{"role": "user", "parts": [{"text": "q"}]},
                         {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"snake_key": 1}},
                                                      "thought_signature": SIG}]},
                         {"role": "user", "parts": [{"function_response": {"name": "f",
                                                                           "response": {"some_value": 2}}}]}],
            "generation_config": {"max_output_tokens": 100, "stop_sequences": ["x"], "response_mime_type": "text/plain",
                                  "thinking_config": {"thinking_budget": 0}},
            "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {
                "type": "object", "properties": {"snake_key": {"type": "integer"}}}}]}],
            "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
            "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
            "cached_content": "cachedContents/x", "labels": {"a": "b"}, "session_id": "theirs"}
    request = translate(body)
    assert request["systemInstruction"] == {"role": "user", "parts": [{"text": "sys"}]}
    assert request["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {"snake_key": 1}},
                                                "thoughtSignature": SIG}]
    assert request["contents"][2]["parts"][0]["functionResponse"]["response"] == {"some_value": 2}
    assert request["generationConfig"] == {"stopSequences": ["x"], "responseMimeType": "text/plain",
                                           "maxOutputTokens": 100,
                                           "thinkingConfig": {"includeThoughts": False, "thinkingLevel": "minimal"}}
    assert request["tools"][0]["functionDeclarations"][0]["parameters"]["properties"] == {
        "snake_key": {"type": "integer"}}
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    assert request["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}]
    assert not {"cachedContent", "labels", "sessionId"} & request.keys()


def test_missing_call_signatures_are_filled_from_caches_then_sentinel():
    contents = [{"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"r": 1}}}]}]
    assert translate({"contents": contents})["contents"][1]["parts"][0]["thoughtSignature"] == SENTINEL
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("call", call_key("get_weather", {"city": "Paris"}), SIG, "gemini"))
    ctx = TranslateContext(request_id="r", session_id="s", signatures=cache)
    assert translate({"contents": contents}, ctx=ctx)["contents"][1]["parts"][0]["thoughtSignature"] == SIG


def test_claude_target_gets_ids_paired_no_signatures_and_closed_loops():
    contents = [{"role": "user", "parts": [{"text": "list"}]},
                {"role": "model", "parts": [{"text": "t", "thought": True},
                                            {"functionCall": {"name": "ls", "args": {}}, "thoughtSignature": SIG},
                                            {"functionCall": {"name": "cat", "args": {"f": "a"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {"r": "a"}}}]}]
    request = translate({"contents": contents, "tools": [{"functionDeclarations": [{"name": "ls"}, {"name": "cat"}]}]},
                        CLAUDE)
    model, user = request["contents"][1], request["contents"][2]
    assert model["parts"] == [{"functionCall": {"name": "ls", "args": {}, "id": "call_1"}},
                              {"functionCall": {"name": "cat", "args": {"f": "a"}, "id": "call_2"}}]
    assert [p["functionResponse"]["id"] for p in user["parts"]] == ["call_1", "call_2"]
    assert user["parts"][1]["functionResponse"]["response"] == {
        "result": "Tool execution interrupted. No result provided."}
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert request["tools"][0]["functionDeclarations"][0]["parameters"] == {"type": "object", "properties": {}}
    assert request["generationConfig"]["maxOutputTokens"] == 64_000


def test_thinking_level_for_non_gemini3_becomes_a_budget_and_budgets_are_capped():
    g25 = resolve_model("gemini-2.5-flash", {})
    config = translate({"contents": "hi" and [{"parts": [{"text": "hi"}]}],
                        "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": True}}},
                       g25)["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 1024}
    capped = translate({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {
        "thinkingConfig": {"thinkingBudget": 50_000}, "maxOutputTokens": 1000}})["generationConfig"]
    assert capped["thinkingConfig"]["thinkingBudget"] == 24_576 and capped["maxOutputTokens"] > 24_576
    dynamic = translate({"contents": [{"parts": [{"text": "hi"}]}],
                         "generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}})["generationConfig"]
    assert dynamic["thinkingConfig"] == {"includeThoughts": False}


def test_search_and_functions_do_not_mix():
    body = {"contents": [{"parts": [{"text": "q"}]}],
            "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}, {"codeExecution": {}}]}
    assert translate(body)["tools"] == [{"functionDeclarations": [{"name": "f"}]}, {"codeExecution": {}}]
    search = translate({"contents": [{"parts": [{"text": "q"}]}], "tools": [{"google_search": {}}]})
    assert search["tools"] == [{"googleSearch": {}}]
    assert build_envelope(search, FLASH, CTX)["requestType"] == "web_search"


@pytest.mark.parametrize(("body", "param"), [
    ({}, "contents"), ({"contents": []}, "contents"), ({"contents": "hi"}, "contents"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"parts": "x"}]}, "contents[0].parts"),
    ({"contents": [{"parts": [5]}]}, "contents[0].parts[0]"),
    ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
    ({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}, "contents[0].parts[0].functionCall.name"),
    ({"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
     "contents[0].parts[0].functionCall.args"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]}, "contents[0].parts[0].inlineData.data"),
    ({"contents": [{"parts": [{"text": ""}]}]}, "contents"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": {}}, "tools"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": []}, "generationConfig"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 0}},
     "generationConfig.maxOutputTokens"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"stopSequences": [1]}},
     "generationConfig.stopSequences"),
])
def test_malformed_bodies_name_the_field(body, param):
    with pytest.raises(ClientError) as info:
        translate(body)
    assert info.value.param == param


def test_count_tokens_request_shapes():
    plain = count_tokens_request({"contents": [{"parts": [{"text": "hi"}]}]}, FLASH)
    assert plain == {"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    wrapped = count_tokens_request({"generate_content_request": {
        "model": "models/x", "contents": [{"parts": [{"text": "hi"}]}], "system_instruction": "be brief",
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {
            "a": {"type": "string", "format": "uri"}}}}]}]}}, FLASH)
    assert wrapped["request"]["systemInstruction"] == {"role": "user", "parts": [{"text": "be brief"}]}
    assert wrapped["request"]["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["a"] == {
        "type": "string", "description": "(format: uri)"}
    assert set(wrapped) == {"request"} and "model" not in wrapped["request"]
    with pytest.raises(ClientError):
        count_tokens_request({"contents": []}, FLASH)


# ---------------------------------------------------------------------------------------------------- responses


def test_stream_pass_through_unwraps_and_renames_model():
    t = GeminiStreamTranslator("gemini-3-flash", session_id="sid-1")
    upstream = events([thought("**Computing**", None), text("2 + 2 = 4."), text("", signature=SIG)])
    out = [e for u in upstream for e in t.feed(u)]
    assert t.finish(truncated=False) == []
    assert all("response" not in e and e["modelVersion"] == "gemini-3-flash" for e in out)
    assert out[-1]["candidates"][0]["finishReason"] == "STOP" and out[-1]["usageMetadata"] == USAGE
    merged = t.response()
    assert merged["candidates"][0]["content"]["parts"] == [
        {"text": "**Computing**", "thought": True}, {"text": "2 + 2 = 4.", "thoughtSignature": SIG}]
    assert merged["usageMetadata"] == USAGE and merged["responseId"] == "r1"
    assert any(s.kind == "session" and s.signature == SIG for s in t.signatures)


def test_stream_records_call_signatures_and_claude_thoughts():
    t = GeminiStreamTranslator("claude-sonnet-4-6", family="claude", session_id="s")
    for event in [wrap([thought("I should list the files here.")]), wrap([thought("", signature=CLAUDE_SIG)]),
                  wrap([call("bash", {"command": "ls"}, "toolu_1")], finish="STOP", usage=USAGE)]:
        t.feed(event)
    t.finish(truncated=False)
    kinds = {s.kind for s in t.signatures}
    assert "content" in kinds and all(s.family == "claude" for s in t.signatures)
    parts = t.response()["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "I should list the files here.", "thought": True, "thoughtSignature": CLAUDE_SIG}
    assert parts[1]["functionCall"]["id"] == "toolu_1"


def test_truncated_stream_is_closed_with_max_tokens():
    t = GeminiStreamTranslator("gemini-3-flash")
    t.feed(wrap([text("partial")], usage={"promptTokenCount": 3, "totalTokenCount": 3}))
    (closing,) = t.finish(truncated=True)
    assert closing["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert closing["usageMetadata"] == {"promptTokenCount": 3, "totalTokenCount": 3}
    assert t.response()["candidates"][0]["finishReason"] == "MAX_TOKENS" and t.truncated
    with pytest.raises(RuntimeError):
        GeminiStreamTranslator("m").response()


def test_google_genai_sdk_parses_our_output():
    from google.genai import types

    t = GeminiStreamTranslator("gemini-3-flash")
    out = [e for u in events([thought("hm"), text("Hello "), text("world"), call("f", {"a": 1}, signature=SIG)])
           for e in t.feed(u)]
    t.finish(truncated=False)
    for event in out:
        types.GenerateContentResponse.model_validate(event)
    merged = types.GenerateContentResponse.model_validate(t.response())
    assert merged.text == "Hello world"
    assert merged.function_calls[0].args == {"a": 1}


@settings(max_examples=150, deadline=None)
@given(scripts, st.lists(st.integers(0, 40), max_size=6))
def test_any_chunking_merges_to_the_same_response(script, cuts):
    def merged(evts):
        t = GeminiStreamTranslator("m")
        for e in evts:
            t.feed(e)
        t.finish(truncated=False)
        return t.response()

    chunked = merged(events(script, cuts))
    whole = merged([wrap(script, finish="STOP", usage=USAGE)])
    assert chunked == whole
    parts = chunked["candidates"][0]["content"]["parts"] if chunked["candidates"] else []
    assert "".join(p.get("text", "") for p in parts if not p.get("thought")) == "".join(
        p["text"] for p in script if "text" in p and not p.get("thought"))
    assert [p["functionCall"] for p in parts if "functionCall" in p] == [
        p["functionCall"] for p in script if "functionCall" in p]
    json.dumps(chunked)


gem_texts = st.text(min_size=1, max_size=12).filter(str.strip)


@st.composite
def gemini_bodies(draw):
    contents = []
    for turn in range(draw(st.integers(1, 4))):
        contents.append({"role": "user", "parts": [{"text": draw(gem_texts)}]})
        if draw(st.booleans()):
            name = draw(st.sampled_from(["f", "g"]))
            call_part = {"functionCall": {"name": name, "args": {"n": turn}}}
            if draw(st.booleans()):
                call_part["thoughtSignature"] = SIG
            contents.append({"role": "model", "parts": [call_part]})
            contents.append({"role": "user", "parts": [{"functionResponse": {"name": name,
                                                                             "response": {"result": "ok"}}}]})
        elif draw(st.booleans()):
            contents.append({"role": "model", "parts": [{"text": draw(gem_texts)}]})
    body = {"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}, {"name": "g"}]}]}
    if draw(st.booleans()):
        body["generationConfig"] = {"thinkingConfig": {"thinkingBudget": draw(st.integers(-1, 100_000)),
                                                       "includeThoughts": draw(st.booleans())},
                                    "maxOutputTokens": draw(st.integers(1, 200_000))}
    return body


@settings(max_examples=150, deadline=None)
@given(gemini_bodies(), st.sampled_from([FLASH, CLAUDE, resolve_model("gemini-2.5-flash", {})]))
def test_valid_gemini_bodies_keep_texts_and_pair_calls(body, route):
    request = translate(body, route)
    texts = [p["text"] for c in request["contents"] for p in c["parts"] if "text" in p]
    for content in body["contents"]:
        for part in content["parts"]:
            if "text" in part and content["role"] == "user":
                assert part["text"] in texts
    contents = request["contents"]
    for i, content in enumerate(contents):
        calls = [p for p in content["parts"] if "functionCall" in p]
        if not calls:
            continue
        responses = [p["functionResponse"] for p in contents[i + 1]["parts"] if "functionResponse" in p]
        assert len(responses) == len(calls)
        if route.family == "claude":
            assert [r["id"] for r in responses] == [c["functionCall"]["id"] for c in calls]
            assert all("thoughtSignature" not in c for c in calls)
        else:
            assert calls[0].get("thoughtSignature") in (SIG, SENTINEL)
    limit = request["generationConfig"].get("maxOutputTokens")
    budget = request["generationConfig"].get("thinkingConfig", {}).get("thinkingBudget")
    if limit and budget:
        assert limit > budget
