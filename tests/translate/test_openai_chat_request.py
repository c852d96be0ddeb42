"""OpenAI Chat Completions → upstream request (upstream-protocol §8.1)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import resolve_model
from antigravityd.translate.openai_chat import chat_request_to_upstream
from antigravityd.translate.schema import TOOL_SCHEMA_KEYS
from antigravityd.translate.signature_cache import SENTINEL, MemorySignatureCache, SeenSignature
from antigravityd.translate.signatures import content_key
from tests.support.schema_check import proto_schema_problems
from tests.translate.captures import bodies

CTX = TranslateContext(request_id="openai-1", session_id="sid-9e1d3c0b7a4f2e11")
GEMINI = resolve_model("gemini-3-flash", {})
CLAUDE = resolve_model("claude-opus-4-6-thinking", {})
SIG = "E" + "q" * 70
CLAUDE_SIG = "R" + "c" * 90


def translate(body, route=GEMINI, ctx=CTX):
    return chat_request_to_upstream(body, route, ctx)


def weather_tool(**extra):
    return {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}, **extra}}


def tool_turn(args='{"city":"Paris"}', call_id="call_1"):
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": args}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "14C, cloudy"},
    ]


def test_captured_sdk_bodies_translate():
    for body in bodies("openai-python-sdk.json", "/v1/chat/completions"):
        route = resolve_model(body["model"], {"gpt-stub": "gemini-3-flash"})
        request = translate(body, route)
        assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
        assert request["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}


def test_spec_example_8_1():
    body = {"model": "gemini-3-flash", "stream": True, "reasoning_effort": "low",
            "messages": [{"role": "system", "content": "Be terse."}, *tool_turn()], "tools": [weather_tool()]}
    request = translate(body)
    assert request["systemInstruction"] == {"role": "user", "parts": [{"text": "Be terse."}]}
    assert request["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"},
                                                      "id": "call_1"}, "thoughtSignature": SENTINEL}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "id": "call_1",
                                                         "response": {"result": "14C, cloudy"}}}]},
    ]
    assert request["tools"] == [{"functionDeclarations": [{"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]
    assert "toolConfig" not in request
    assert request["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingLevel": "low"}}
    envelope = build_envelope(request, GEMINI, CTX)
    assert envelope["request"]["sessionId"] == CTX.session_id
    assert envelope["request"]["systemInstruction"]["parts"][1] == {"text": "Be terse."}


def test_system_and_developer_messages_anywhere_become_system_parts():
    request = translate({"messages": [
        {"role": "developer", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
        {"role": "user", "content": "hi"}, {"role": "system", "content": "C"}, {"role": "user", "content": "again"}]})
    assert request["systemInstruction"]["parts"] == [{"text": "A"}, {"text": "B"}, {"text": "C"}]
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}, {"text": "again"}]}]


def test_multi_turn_and_assistant_reasoning_is_dropped_without_signature():
    request = translate({"messages": [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "two", "reasoning_content": "hmm"},
        {"role": "user", "content": "three"}]})
    assert request["contents"] == [{"role": "user", "parts": [{"text": "one"}]},
                                   {"role": "model", "parts": [{"text": "two"}]},
                                   {"role": "user", "parts": [{"text": "three"}]}]


def test_reasoning_content_signature_recovered_from_content_cache():
    reasoning = "The user wants weather; call the tool."
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("content", content_key(reasoning), SIG, "gemini"))
    ctx = TranslateContext(request_id="r", session_id="s", signatures=cache)
    messages = tool_turn()
    messages[1]["reasoning_content"] = reasoning
    model = translate({"messages": messages, "tools": [weather_tool()]}, ctx=ctx)["contents"][1]
    assert model["parts"][0] == {"text": reasoning, "thought": True, "thoughtSignature": SIG}
    assert model["parts"][1]["thoughtSignature"] == SIG  # the call inherits the turn's thought signature


def test_tool_call_signature_from_the_tool_id_cache():
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("tool_call", "call_1", SIG, "gemini"))
    ctx = TranslateContext(request_id="r", session_id="s", signatures=cache)
    model = translate({"messages": tool_turn(), "tools": [weather_tool()]}, ctx=ctx)["contents"][1]
    assert model["parts"][0]["thoughtSignature"] == SIG


def test_images_data_and_http_urls():
    request = translate({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAA", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1"}},
        {"type": "image_url", "image_url": "https://example.com/photo"},
        {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "a.pdf"}},
    ]}]})
    assert request["contents"][0]["parts"] == [
        {"text": "what is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAA"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRiQAAABXQVZF"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}},
    ]


@pytest.mark.parametrize("url", ["/etc/passwd", "file:///etc/passwd", "FILE:///etc/passwd", "C:\\secret.png",
                                 "./cat.png", "~/cat.png", "ftp://example.com/a.png", "data:image/png,notbase64",
                                 "data:image/png;base64,@@@@", "", "   "])
def test_local_paths_and_other_schemes_are_refused(url):
    with pytest.raises(ClientError) as info:
        translate({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})
    assert info.value.status == 400 and info.value.param == "messages[0].content[0].image_url.url"


def test_parallel_tool_calls_and_results_in_call_order():
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "20C"}]},
        {"role": "tool", "tool_call_id": "a", "content": "14C"},
        {"role": "user", "content": "Thanks!"},
    ]
    contents = translate({"messages": messages, "tools": [weather_tool()]})["contents"]
    model, results = contents[1], contents[2]
    assert [p.get("text") or p["functionCall"]["id"] for p in model["parts"]] == ["Checking.", "a", "b"]
    assert [p.get("thoughtSignature") for p in model["parts"]] == [None, SENTINEL, None]
    assert [p["functionResponse"]["id"] for p in results["parts"][:2]] == ["a", "b"]
    assert results["parts"][2] == {"text": "Thanks!"}


def test_tool_arguments_are_data_never_cleaned_but_coerced_to_declared_types():
    tool = {"type": "function", "function": {"name": "edit", "parameters": {"type": "object", "properties": {
        "type": {"type": "string"}, "count": {"type": "integer"}}}}}
    args = {"type": "file", "path": "a.txt", "format": {"type": "x"}, "count": "3", "items": [1],
            "$ref": "#/x", "properties": {"a": True}}
    messages = tool_turn(json.dumps(args))
    messages[1]["tool_calls"][0]["function"]["name"] = "edit"
    call = translate({"messages": messages, "tools": [tool]})["contents"][1]["parts"][0]["functionCall"]
    assert call["args"] == {**args, "count": 3}


@pytest.mark.parametrize(("mutate", "param"), [
    (lambda m: m[1]["tool_calls"][0]["function"].update(arguments="{not json"),
     "messages[1].tool_calls[0].function.arguments"),
    (lambda m: m[1]["tool_calls"][0]["function"].update(arguments="[1, 2]"),
     "messages[1].tool_calls[0].function.arguments"),
    (lambda m: m[2].update(tool_call_id="call_unknown"), "messages[2].tool_call_id"),
    (lambda m: m.pop(2), "messages[1]"),
    (lambda m: m.insert(2, {"role": "user", "content": "interrupt"}), "messages[1]"),
    (lambda m: m.append({"role": "tool", "tool_call_id": "call_1", "content": "again"}), "messages[3].tool_call_id"),
    (lambda m: m[1]["tool_calls"][0].pop("id"), "messages[1].tool_calls[0].id"),
    (lambda m: m[1]["tool_calls"][0]["function"].pop("name"), "messages[1].tool_calls[0].function.name"),
    (lambda m: m[0].update(role="wizard"), "messages[0].role"),
    (lambda m: m[0].update(role="function"), "messages[0].role"),
    (lambda m: m[0].update(content=42), "messages[0].content"),
    (lambda m: m[0].update(content=[{"type": "video", "video": {}}]), "messages[0].content[0].type"),
    (lambda m: m[0].update(content=[{"type": "file", "file": {"file_id": "file-1"}}]), "messages[0].content[0].file"),
    (lambda m: m.__setitem__(0, "not an object"), "messages[0]"),
])
def test_malformed_messages_name_the_field(mutate, param):
    messages = tool_turn()
    mutate(messages)
    with pytest.raises(ClientError) as info:
        translate({"messages": messages, "tools": [weather_tool()]})
    assert info.value.param == param, info.value.message


@pytest.mark.parametrize(("body", "param"), [
    ({}, "messages"), ({"messages": []}, "messages"), ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "top_p": "1"}, "top_p"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 1.5}, "max_completion_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 9}, "n"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": {}}, "tools"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "custom", "custom": {}}]}, "tools[0]"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [weather_tool(), weather_tool()]},
     "tools[1].function.name"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()],
      "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}, "response_format.type"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}},
     "response_format.json_schema"),
    ({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": 3}, "reasoning_effort"),
])
def test_malformed_bodies_name_the_field(body, param):
    with pytest.raises(ClientError) as info:
        translate(body)
    assert info.value.param == param
    with pytest.raises(ClientError):
        translate([body])


def test_tool_choice_mapping():
    base = {"messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()]}
    def config(choice):
        return translate({**base, "tool_choice": choice}).get("toolConfig")
    assert config("none") == {"functionCallingConfig": {"mode": "NONE"}}
    assert config("auto") == {"functionCallingConfig": {"mode": "AUTO"}}
    assert config("required") == {"functionCallingConfig": {"mode": "ANY"}}
    assert config({"type": "function", "function": {"name": "get_weather"}}) == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert config({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "get_weather"}}]}}) == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert translate(base, CLAUDE)["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}


def test_tools_schema_cleaned_and_parameterless_tools():
    body = {"messages": [{"role": "user", "content": "x"}], "tools": [
        {"type": "function", "function": {"name": "now", "description": "time"}},
        {"type": "function", "function": {"name": "deep", "strict": True, "parameters": {
            "$schema": "x", "type": "object", "properties": {"n": {"type": ["integer", "null"], "minimum": 1}}}}},
        {"type": "function", "function": {"name": "web_search", "parameters": {}}},
    ]}
    declarations = translate(body)["tools"][0]["functionDeclarations"]
    assert declarations[0] == {"name": "now", "description": "time"}
    assert proto_schema_problems(declarations[1]["parameters"], TOOL_SCHEMA_KEYS) == []
    assert [d["name"] for d in declarations] == ["now", "deep"]  # search cannot be mixed with functions
    claude = translate(body, CLAUDE)["tools"][0]["functionDeclarations"][0]
    assert claude["parameters"] == {"type": "object", "properties": {}}
    search_only = translate({"messages": [{"role": "user", "content": "news?"}], "tools": [
        {"type": "function", "function": {"name": "google_search"}}]})
    assert search_only["tools"] == [{"googleSearch": {}}]
    assert build_envelope(search_only, GEMINI, CTX)["requestType"] == "web_search"


def test_generation_parameters():
    config = translate({"messages": [{"role": "user", "content": "x"}], "temperature": 0.3, "top_p": 0.9,
                        "max_tokens": 100, "max_completion_tokens": 200, "stop": "END", "n": 2, "seed": 7,
                        "presence_penalty": 1, "user": "u", "parallel_tool_calls": False,
                        "reasoning_effort": "none"})["generationConfig"]
    assert config == {"temperature": 0.3, "topP": 0.9, "candidateCount": 2, "stopSequences": ["END"],
                      "maxOutputTokens": 200, "thinkingConfig": {"includeThoughts": False,
                                                                 "thinkingLevel": "minimal"}}


def test_response_format():
    base = {"messages": [{"role": "user", "content": "x"}]}
    assert translate({**base, "response_format": {"type": "json_object"}})["generationConfig"][
        "responseMimeType"] == "application/json"
    config = translate({**base, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
        "additionalProperties": False}, "strict": True}}})["generationConfig"]
    assert config["responseSchema"] == {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert "responseMimeType" not in translate({**base, "response_format": {"type": "text"}})["generationConfig"]


def test_claude_target_ids_no_sentinel_and_thinking_off_when_loop_unsigned():
    request = translate({"messages": tool_turn(), "tools": [weather_tool()], "max_tokens": 1000}, CLAUDE)
    model = request["contents"][1]
    assert model["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}}]
    assert "thinkingConfig" not in request["generationConfig"]
    assert request["generationConfig"]["maxOutputTokens"] == 1000
    # with the thinking block recoverable, thinking stays on
    reasoning = "I should call the weather tool for Paris."
    cache = MemorySignatureCache(lambda: 0.0)
    cache.remember(SeenSignature("content", content_key(reasoning), CLAUDE_SIG, "claude"))
    messages = tool_turn()
    messages[1]["reasoning_content"] = reasoning
    ctx = TranslateContext(request_id="r", session_id="s", signatures=cache)
    request = translate({"messages": messages, "tools": [weather_tool()]}, CLAUDE, ctx)
    assert request["contents"][1]["parts"][0]["thoughtSignature"] == CLAUDE_SIG
    assert request["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 16_000}
    assert request["generationConfig"]["maxOutputTokens"] == 64_000


def test_claude_prefill_is_closed_with_a_user_turn():
    request = translate({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
                        CLAUDE)
    assert request["contents"][-1] == {"role": "user", "parts": [{"text": "Continue."}]}


def test_undefined_values_are_removed():
    request = translate({"messages": [{"role": "user", "content": "x", "name": "[undefined]"}],
                         "temperature": "[undefined]", "tools": "[undefined]"})
    assert "temperature" not in request["generationConfig"] and "tools" not in request


# ---------------------------------------------------------------------------------------------------- properties

texts = st.text(min_size=1, max_size=20).filter(lambda t: t.strip() and t != "[undefined]")
args = st.dictionaries(st.sampled_from(["city", "type", "format", "n"]),
                       st.integers() | st.text(max_size=5) | st.none(), max_size=3)


@st.composite
def chat_bodies(draw):
    """Valid Chat Completions bodies: user/assistant turns, tool loops with paired ids, system messages."""
    messages = []
    if draw(st.booleans()):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)})
    counter = 0
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(texts)})
        if draw(st.booleans()):
            n = draw(st.integers(1, 3))
            calls = []
            for _ in range(n):
                counter += 1
                calls.append({"id": f"call_{counter}", "type": "function",
                              "function": {"name": "get_weather", "arguments": json.dumps(draw(args))}})
            messages.append({"role": "assistant", "content": draw(st.none() | texts), "tool_calls": calls})
            for c in draw(st.permutations(calls)):
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": draw(texts)})
        elif draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(texts)})
    body = {"model": "m", "messages": messages, "tools": [weather_tool()]}
    for key, strategy in (("temperature", st.floats(0, 2)), ("max_tokens", st.integers(1, 100_000)),
                          ("reasoning_effort", st.sampled_from(["none", "minimal", "low", "medium", "high"])),
                          ("stop", st.lists(texts, max_size=6)), ("n", st.integers(1, 8))):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


@settings(max_examples=150, deadline=None)
@given(chat_bodies(), st.sampled_from([GEMINI, CLAUDE, resolve_model("gemini-2.5-flash", {})]))
def test_valid_bodies_translate_and_preserve_texts_and_pairs(body, route):
    request = translate(body, route)
    contents = request["contents"]
    upstream_texts = [p["text"] for c in contents for p in c["parts"] if "text" in p and not p.get("thought")]
    for m in body["messages"]:
        if m["role"] == "user":
            assert m["content"] in upstream_texts
    results = [p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p]
    for m in body["messages"]:
        if m["role"] == "tool":
            assert any(r["id"] == m["tool_call_id"] and r["response"] == {"result": m["content"]} for r in results)
    for i, content in enumerate(contents):
        calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
        if calls:
            following = contents[i + 1]
            ids = [p["functionResponse"]["id"] for p in following["parts"] if "functionResponse" in p]
            assert ids == [c["id"] for c in calls]  # all answered, in call order, in the very next turn
            if route.family == "gemini":
                assert "thoughtSignature" in next(p for p in content["parts"] if "functionCall" in p)
    assert contents[0]["role"] == "user"
    json.dumps(build_envelope(request, route, CTX))


bad_values = st.none() | st.integers() | st.text(max_size=4) | st.lists(st.integers(), max_size=2) | st.dictionaries(
    st.text(max_size=4), st.integers(), max_size=2)


@settings(max_examples=150, deadline=None)
@given(chat_bodies(), st.data())
def test_corrupted_bodies_raise_only_client_errors(body, data):
    # overwrite one random field somewhere in the body with junk
    target = body
    path = []
    while isinstance(target, dict | list) and target and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(list(target) if isinstance(target, dict) else range(len(target))))
        path.append(key)
        if not isinstance(target[key], dict | list):
            break
        target = target[key]
    if isinstance(target, dict) and target:
        target[data.draw(st.sampled_from(list(target)))] = data.draw(bad_values)
    elif isinstance(target, list) and target:
        target[data.draw(st.integers(0, len(target) - 1))] = data.draw(bad_values)
    try:
        translate(body)
    except ClientError:
        pass
