"""The official `google-genai` SDK against the daemon and the fake upstream (issue 4, Gemini native)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support.sse_parse import parse_sse

PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                            "additionalProperties": False, "$schema": "http://json-schema.org/draft-07/schema#"})


@pytest.fixture(params=["v1beta", "v1"])
def client(gateway, request) -> genai.Client:
    return genai.Client(api_key=gateway.api_key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version=request.param, timeout=30_000))


def test_generate_and_stream(client):
    r = client.models.generate_content(model="gemini-3-flash", contents="hello gemini")
    assert r.text == "Echo: hello gemini"
    assert r.usage_metadata.prompt_token_count > 0
    text = "".join(c.text or "" for c in client.models.generate_content_stream(
        model="gemini-3-flash", contents="stream me [[chunks:5]]"))
    assert text == "Echo: stream me"


def test_function_call_round_trip(client):
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    history = [types.Content(role="user", parts=[types.Part(text='weather [[call:get_weather {"city":"Oslo"}]]')])]
    first = client.models.generate_content(model="gemini-3-flash", contents=history, config=config)
    call = first.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "Oslo"}
    history += [first.candidates[0].content,
                types.Content(role="user", parts=[types.Part.from_function_response(
                    name="get_weather", response={"result": "-2C, snow"})])]
    second = client.models.generate_content(model="gemini-3-flash", contents=history, config=config)
    assert second.text == "Tool results: get_weather -> -2C, snow"


def test_signature_stripped_by_the_client_is_restored(client):
    """gemini-cli and others may drop thought signatures; Gemini 3 rejects the replayed call without one."""
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    history = [types.Content(role="user", parts=[types.Part(text='again [[call:get_weather {"city":"Rome"}]]')])]
    first = client.models.generate_content(model="gemini-3-flash", contents=history, config=config)
    replay = first.candidates[0].content
    for part in replay.parts:
        part.thought_signature = None
    history += [replay, types.Content(role="user", parts=[types.Part.from_function_response(
        name="get_weather", response={"result": "21C"})])]
    second = client.models.generate_content(model="gemini-3-flash", contents=history, config=config)
    assert second.text == "Tool results: get_weather -> 21C"


def test_json_mode_and_images(client, gateway):
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["label", "score"]}
    r = client.models.generate_content(
        model="gemini-3-flash", contents=["what is this", types.Part.from_bytes(data=PNG_1PX, mime_type="image/png")],
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema))
    data = json.loads(r.text)
    assert isinstance(data["label"], str) and isinstance(data["score"], int)
    sent = gateway.fake.requests("streamGenerateContent")[-1]["body"]["request"]["contents"][0]["parts"]
    assert any(p.get("inlineData", {}).get("data") == base64.b64encode(PNG_1PX).decode() for p in sent)


def test_models_and_count_tokens(client):
    names = {m.name for m in client.models.list()}
    assert "models/gemini-3-flash" in names
    model = client.models.get(model="gemini-3-flash")
    assert model.input_token_limit >= 1_000_000 and model.output_token_limit > 0
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.get(model="no-such-model-xyz")
    assert e.value.code == 404
    counted = client.models.count_tokens(model="gemini-3-flash", contents="how many tokens is this")
    assert counted.total_tokens > 0


def test_errors(gateway):
    bad = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=gateway.url))
    with pytest.raises(genai_errors.ClientError) as e:
        bad.models.generate_content(model="gemini-3-flash", contents="hi")
    assert e.value.code == 401
    good = genai.Client(api_key=gateway.api_key, http_options=types.HttpOptions(base_url=gateway.url))
    with pytest.raises(genai_errors.ClientError) as e:
        good.models.generate_content(model="unknown-model", contents="hi")
    assert e.value.code == 400 and "Unknown model" in e.value.message


def test_stream_framing_sse_and_json_array(gateway):
    headers = {"x-goog-api-key": gateway.api_key}
    body = {"contents": [{"role": "user", "parts": [{"text": "frames [[chunks:4]]"}]}]}
    url = gateway.url + "/v1beta/models/gemini-3-flash:streamGenerateContent"
    sse = httpx.post(url + "?alt=sse", json=body, headers=headers, timeout=30)
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in parse_sse(sse.text)]
    assert "".join(p.get("text", "") for e in events for c in e.get("candidates", [])
                   for p in c.get("content", {}).get("parts", []) if not p.get("thought")) == "Echo: frames"
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    array = httpx.post(url, json=body, headers=headers, timeout=30)
    assert array.headers["content-type"].startswith("application/json")
    assert [e["candidates"][0].get("finishReason") for e in array.json()][-1] == "STOP"
    # The key may also come as ?key= (older Gemini clients); it never appears in logs.
    r = httpx.post(url.replace("streamGenerateContent", "generateContent") + f"?key={gateway.api_key}",
                   json=body, timeout=30)
    assert r.status_code == 200
    assert gateway.api_key not in gateway.daemon.logs()


def test_unknown_action_and_bad_body(gateway):
    headers = {"x-goog-api-key": gateway.api_key}
    r = httpx.post(gateway.url + "/v1beta/models/gemini-3-flash:embedContent", json={}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = httpx.post(gateway.url + "/v1beta/models/gemini-3-flash:generateContent", json={"contents": "x"},
                   headers=headers)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
