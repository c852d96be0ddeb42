"""The official ``openai`` SDK's ``responses.create`` (and legacy ``completions.create``) against the daemon and the
fake upstream. Every streamed response goes through the Responses event-sequence validator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.anthropic_helpers import generate_requests, last_upstream
from tests.support.gateway import Gateway, start_gateway
from tests.support.responses_stream_check import check_response_object, check_responses_stream
from tests.support.sse_parse import parse_sse

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                         "additionalProperties": False}, "strict": True}]
PROMPT = '[[call:get_weather {"city": "Paris"}]] weather in Paris?'


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("responses"), settings={"security.auth_mode": "strict"})
    try:
        yield gateway
    finally:
        gateway.close()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.api_key, max_retries=0, timeout=60)


def create(gw: Gateway, **kw: Any) -> dict[str, Any]:
    return check_response_object(client(gw).responses.create(**kw).model_dump(exclude_none=True))


def stream(gw: Gateway, **kw: Any) -> dict[str, Any]:
    events = [(e.type, e.model_dump(exclude_none=True)) for e in client(gw).responses.create(stream=True, **kw)]
    return check_responses_stream(events)


def output_text(response: dict[str, Any]) -> str:
    return "".join(p["text"] for i in response["output"] if i["type"] == "message" for p in i["content"])


def calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in response["output"] if i["type"] == "function_call"]


def test_non_stream_and_stream_text(gw: Gateway) -> None:
    assert output_text(create(gw, model="gemini-3-flash", input="hello")) == "Echo: hello"
    streamed = stream(gw, model="gemini-3-flash", input="[[chunks:9]] many pieces", instructions="Be brief.")
    assert output_text(streamed).startswith("Echo: many pieces")
    assert last_upstream(gw)["request"]["systemInstruction"]["parts"][-1] == {"text": "Be brief."}


@pytest.mark.parametrize("model", ["gemini-3-flash", "claude-opus-4-6", "claude-sonnet-4-6"])
@pytest.mark.parametrize("streaming", [True, False])
def test_function_call_round_trip(gw: Gateway, model: str, streaming: bool) -> None:
    call = stream if streaming else create
    reasoning = {"effort": "low", "summary": "auto"}
    first = call(gw, model=model, input=PROMPT, tools=TOOLS, reasoning=reasoning,
                 include=["reasoning.encrypted_content"], store=False)
    (fc,) = calls(first)
    assert fc["name"] == "get_weather" and json.loads(fc["arguments"]) == {"city": "Paris"}
    history = [{"role": "user", "content": PROMPT}, *first["output"],
               {"type": "function_call_output", "call_id": fc["call_id"], "output": "sunny, 21C"}]
    second = call(gw, model=model, input=history, tools=TOOLS, reasoning=reasoning,
                  include=["reasoning.encrypted_content"], store=False)
    assert output_text(second) == "Tool results: get_weather -> sunny, 21C"
    if model.startswith("claude-opus"):
        replayed = last_upstream(gw)["request"]["contents"][1]["parts"][0]
        assert replayed["thought"] is True  # the reasoning item's encrypted_content signed it


def test_codex_style_history_without_reasoning_items(gw: Gateway) -> None:
    """Codex with ``store=false`` and no encrypted reasoning: the Gemini call signature comes from the cache."""
    first = create(gw, model="gemini-3-flash", input=PROMPT, tools=TOOLS)
    fc = calls(first)[0]
    history = [{"role": "user", "content": PROMPT},
               {"type": "function_call", "call_id": fc["call_id"], "name": "get_weather",
                "arguments": fc["arguments"]},
               {"type": "function_call_output", "call_id": fc["call_id"], "output": "rain"}]
    assert output_text(create(gw, model="gemini-3-flash", input=history, tools=TOOLS)) == \
        "Tool results: get_weather -> rain"
    replayed = last_upstream(gw)["request"]["contents"][1]["parts"][0]
    assert replayed["thoughtSignature"] != "skip_thought_signature_validator"


def test_images_and_json_format(gw: Gateway) -> None:
    response = create(gw, model="gemini-3-flash", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}])
    assert output_text(response) == "Echo: what"
    structured = create(gw, model="gemini-3-flash", input="data please", text={"format": {
        "type": "json_schema", "name": "x", "schema": {"type": "object", "properties": {"n": {"type": "integer"}},
                                                       "required": ["n"]}}})
    assert isinstance(json.loads(output_text(structured))["n"], int)


def test_incomplete_and_errors(gw: Gateway) -> None:
    cut = create(gw, model="gemini-3-flash", input="[[finish:MAX_TOKENS]] long")
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        client(gw).responses.create(model="gemini-3-flash", input="x", previous_response_id="resp_123")
    with pytest.raises(openai.BadRequestError, match="Unknown model"):
        client(gw).responses.create(model="nope-model", input="x")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.url + "/v1", api_key="bad", max_retries=0).responses.create(
            model="gemini-3-flash", input="x")


def test_raw_stream_framing(gw: Gateway) -> None:
    with httpx.Client(timeout=60) as http:
        r = http.post(gw.url + "/v1/responses", headers={"authorization": f"Bearer {gw.api_key}"},
                      json={"model": "gemini-3-flash", "input": "raw", "stream": True})
    final = check_responses_stream(r.content)  # event names equal types, sequence numbers from 0
    assert output_text(final) == "Echo: raw"


def test_mid_stream_failure_ends_with_an_error_event(tmp_path) -> None:
    gateway = start_gateway(tmp_path)
    try:
        gateway.fake.inject("cut_stream", times=None, after_events=2)
        with httpx.Client(timeout=60) as http, http.stream(
                "POST", gateway.url + "/v1/responses",
                json={"model": "gemini-3-flash", "input": "[[chunks:6]] x", "stream": True}) as r:
            raw = b""
            with pytest.raises(httpx.HTTPError):  # the connection is cut after the error event
                for chunk in r.iter_bytes():
                    raw += chunk
        events = parse_sse(raw)
        assert events[-1][0] == "error"
        check_responses_stream(events, allow_error=True)
    finally:
        gateway.close()


def test_legacy_completions(gw: Gateway) -> None:
    c = client(gw)
    done = c.completions.create(model="gemini-3-flash", prompt="Say something", max_tokens=64)
    assert done.choices[0].text == "Echo: Say something" and done.choices[0].finish_reason == "stop"
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    chunks = list(c.completions.create(model="gemini-3-flash", prompt="[[chunks:4]] stream it", max_tokens=64,
                                       stream=True))
    assert "".join(ch.choices[0].text for ch in chunks).startswith("Echo: stream it")
    assert chunks[-1].choices[0].finish_reason == "stop"
    with httpx.Client(timeout=60) as http:
        r = http.post(gw.url + "/v1/completions", headers={"authorization": f"Bearer {gw.api_key}"},
                      json={"model": "gemini-3-flash", "prompt": "x", "stream": True})
    assert parse_sse(r.content)[-1] == (None, "[DONE]")
    with pytest.raises(openai.BadRequestError, match="suffix"):
        c.completions.create(model="gemini-3-flash", prompt="x", suffix="y")
    assert generate_requests(gw)
