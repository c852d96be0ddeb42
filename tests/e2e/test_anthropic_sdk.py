"""The official ``anthropic`` SDK against the real daemon and the fake upstream (separate processes, real HTTP).

Happy paths share one gateway; tests that lock accounts or restart the daemon get their own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.e2e.anthropic_helpers import (
    as_history,
    blocks,
    client,
    create,
    generate_requests,
    last_upstream,
    raw_stream,
    stream,
    text,
)
from tests.fake_upstream.generation import tiny_png
from tests.support.daemon import start_daemon
from tests.support.gateway import Gateway, start_gateway, upstream_settings

CLAUDE = "claude-opus-4-6"  # → claude-opus-4-6-thinking upstream
SONNET = "claude-sonnet-4-6"
GEMINI = "gemini-3-flash"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("anthropic"), settings={"security.auth_mode": "strict"})
    try:
        yield gateway
    finally:
        gateway.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path, settings={"security.auth_mode": "strict"})
    try:
        yield gateway
    finally:
        gateway.close()


def user(content: object) -> dict:
    return {"role": "user", "content": content}


# ------------------------------------------------------------------------------------------------ basics


def test_non_stream_text(gw: Gateway) -> None:
    message = create(gw, model=SONNET, max_tokens=200, messages=[user("hello there")])
    assert text(message) == "Echo: hello there"
    assert message["stop_reason"] == "end_turn" and message["model"] == SONNET
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0


def test_stream_text_in_many_events(gw: Gateway) -> None:
    message = stream(gw, model=SONNET, max_tokens=200, messages=[user("[[chunks:12]] stream me please")])
    assert text(message).startswith("Echo: stream me please")
    assert message["stop_reason"] == "end_turn"


def test_raw_stream_framing_and_headers(gw: Gateway) -> None:
    r, message = raw_stream(gw, {"model": GEMINI, "max_tokens": 100, "messages": [user("raw")]})
    assert r.headers["x-mapped-model"] == GEMINI
    assert text(message) == "Echo: raw"


def test_system_blocks_cache_control_and_system_messages(gw: Gateway) -> None:
    message = create(gw, model=SONNET, max_tokens=100,
                     system=[{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
                     messages=[user([{"type": "text", "text": "first", "cache_control": {"type": "ephemeral"}}]),
                               {"role": "system", "content": "Mid-conversation rule."},
                               user("second")])
    assert text(message) == "Echo: second"
    request = last_upstream(gw)["request"]
    system = [p["text"] for p in request["systemInstruction"]["parts"]]
    assert "Be terse." in system and "Mid-conversation rule." in system
    assert [c["role"] for c in request["contents"]] == ["user"]  # the two user messages were merged
    assert "cache_control" not in str(request)


def test_max_tokens_and_stop_sequences(gw: Gateway) -> None:
    cut = create(gw, model=SONNET, max_tokens=100, messages=[user("[[finish:MAX_TOKENS]] long")])
    assert cut["stop_reason"] == "max_tokens"
    # Five go upstream (the fake cuts there); a sixth is matched by the daemon itself and reported by name.
    stops = ["s1", "s2", "s3", "s4", "s5", "HALT"]
    local = stream(gw, model=SONNET, max_tokens=100, stop_sequences=stops,
                   messages=[user("[[say:alpha beta HALT gamma]]")])
    assert text(local) == "alpha beta " and local["stop_reason"] == "stop_sequence"
    assert local["stop_sequence"] == "HALT"
    assert last_upstream(gw)["request"]["generationConfig"]["stopSequences"] == stops[:5]


def test_sampling_parameters_reach_upstream(gw: Gateway) -> None:
    create(gw, model=GEMINI, max_tokens=300, messages=[user("sample")],
           extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 20})
    config = last_upstream(gw)["request"]["generationConfig"]
    assert config["temperature"] == 0.3 and config["topP"] == 0.9 and config["topK"] == 20
    assert config["maxOutputTokens"] == 300


# ------------------------------------------------------------------------------------------------ thinking


LOOKUP = [{"name": n, "input_schema": {"type": "object"}} for n in ("lookup", "probe")]


def _thinking_turn(gw: Gateway, prompt: str) -> dict:
    first = stream(gw, model=CLAUDE, max_tokens=8000, thinking={"type": "enabled", "budget_tokens": 2000},
                   messages=[user(prompt)], tools=LOOKUP)
    thinking = blocks(first, "thinking")
    assert thinking and thinking[0]["signature"].startswith("E")  # the client sees Anthropic's native E-form
    return first


def test_thinking_signature_round_trip(gw: Gateway) -> None:
    first = _thinking_turn(gw, "[[call:lookup {\"q\": \"x\"}]] think first")
    tool = blocks(first, "tool_use")[0]
    assert first["stop_reason"] == "tool_use"
    second = stream(gw, model=CLAUDE, max_tokens=8000, thinking={"type": "enabled", "budget_tokens": 2000},
                    tools=LOOKUP, messages=[user("[[call:lookup {\"q\": \"x\"}]] think first"), as_history(first),
                              user([{"type": "tool_result", "tool_use_id": tool["id"], "content": "found it"}])])
    assert text(second).startswith("Tool results: lookup -> found it")
    model_turn = last_upstream(gw)["request"]["contents"][1]
    assert model_turn["parts"][0]["thought"] is True  # the signed thinking block went back upstream
    headers = generate_requests(gw)[-1]["headers"]
    assert headers.get("anthropic-beta") == "interleaved-thinking-2025-05-14"


def test_invalid_signature_is_retried_without_thinking(gw: Gateway) -> None:
    first = _thinking_turn(gw, "forge me")
    forged = dict(blocks(first, "thinking")[0], signature="E" + "A" * 120)
    before = len(generate_requests(gw))
    message = create(gw, model=CLAUDE, max_tokens=8000, thinking={"type": "enabled", "budget_tokens": 2000},
                     messages=[user("forge me"), {"role": "assistant", "content": [forged, *blocks(first, "text")]},
                               user("next")])
    assert text(message) == "Echo: next"
    sent = generate_requests(gw)[before:]
    assert len(sent) == 2  # rejected once, then rewritten
    assert not any(p.get("thought") for c in sent[1]["body"]["request"]["contents"] for p in c["parts"])


def _stripped_turn(first: dict, prompt: str) -> list[dict]:
    tool = blocks(first, "tool_use")[0]
    stripped = [dict(b, signature="") if b["type"] == "thinking" else b for b in first["content"]]
    return [user(prompt), {"role": "assistant", "content": stripped},
            user([{"type": "tool_result", "tool_use_id": tool["id"], "content": "42"}])]


def test_stripped_signature_recovered_from_cache_and_after_restart(fresh: Gateway) -> None:
    prompt = "[[call:probe {}]] [[think:a long enough chain of thought to be cached]] go"
    first = _thinking_turn(fresh, prompt)
    history = _stripped_turn(first, prompt)
    kw = {"model": CLAUDE, "max_tokens": 8000, "thinking": {"type": "enabled", "budget_tokens": 2000}}

    def replayed_signature() -> str | None:
        model_turn = last_upstream(fresh)["request"]["contents"][1]
        first_part = model_turn["parts"][0]
        return first_part.get("thoughtSignature") if first_part.get("thought") else None

    assert text(stream(fresh, messages=history, **kw)).startswith("Tool results: probe -> 42")
    recovered = replayed_signature()
    assert recovered is not None

    fresh.daemon.stop()
    fresh.daemon = start_daemon(fresh.workdir / "daemon", settings=upstream_settings(fresh.fake.info))
    assert text(stream(fresh, messages=history, **kw)).startswith("Tool results: probe -> 42")
    assert replayed_signature() == recovered  # from the store: the in-memory cache died with the process


# ------------------------------------------------------------------------------------------------ tools


@pytest.mark.parametrize("model", [CLAUDE, GEMINI, SONNET])
def test_tool_use_round_trip(gw: Gateway, model: str) -> None:
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"], "additionalProperties": False, "$schema": "http://json-schema.org/draft-07/schema#"}}]
    prompt = '[[call:get_weather {"city": "Paris", "days": 2}]] weather?'
    first = stream(gw, model=model, max_tokens=8000, tools=tools, messages=[user(prompt)])
    tool = blocks(first, "tool_use")[0]
    assert tool["name"] == "get_weather" and tool["input"] == {"city": "Paris", "days": 2}
    assert first["stop_reason"] == "tool_use"
    # Claude Code drops thinking signatures from history: send the turn back without them.
    history = [b for b in first["content"] if b["type"] != "thinking"]
    second = create(gw, model=model, max_tokens=8000, tools=tools,
                    messages=[user(prompt), {"role": "assistant", "content": history},
                              user([{"type": "tool_result", "tool_use_id": tool["id"],
                                     "content": [{"type": "text", "text": "sunny"},
                                                 {"type": "text", "text": "21C"}]}])])
    assert text(second) == "Tool results: get_weather -> sunny\n21C"


def test_parallel_tools_and_error_results(gw: Gateway) -> None:
    prompt = '[[call:a {"n": 1}]] [[call:b {"n": 2}]] both'
    first = stream(gw, model=GEMINI, max_tokens=1000, messages=[user(prompt)],
                   tools=[{"name": n, "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
                          for n in ("a", "b")])
    uses = blocks(first, "tool_use")
    assert [u["name"] for u in uses] == ["a", "b"] and len({u["id"] for u in uses}) == 2
    results = [{"type": "tool_result", "tool_use_id": uses[1]["id"], "content": "bad", "is_error": True},
               {"type": "tool_result", "tool_use_id": uses[0]["id"], "content": "ok"}]
    second = create(gw, model=GEMINI, max_tokens=1000, messages=[user(prompt), as_history(first), user(results)])
    assert text(second).startswith("Tool results: a -> ok; b -> ")  # responses re-ordered to the call order
    responses = last_upstream(gw)["request"]["contents"][2]["parts"]
    assert responses[1]["functionResponse"]["response"] == {"error": "bad"}


def test_broken_tool_loop_is_closed(gw: Gateway) -> None:
    message = create(gw, model=SONNET, max_tokens=500, messages=[
        user("start"),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_lost", "name": "x", "input": {}}]},
        user("never mind, just answer")])
    assert text(message).startswith("Tool results: x -> Tool execution interrupted")


# ------------------------------------------------------------------------------------------------ images


def test_images_base64_url_and_in_tool_results(gw: Gateway) -> None:
    png = tiny_png()
    message = create(gw, model=GEMINI, max_tokens=200, messages=[user([
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
        {"type": "text", "text": "what is this"}])])
    assert text(message) == "Echo: what is this"
    parts = last_upstream(gw)["request"]["contents"][0]["parts"]
    assert {"inlineData": {"mimeType": "image/png", "data": png}} in parts
    assert {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}} in parts
    with pytest.raises(anthropic.BadRequestError, match="http"):
        client(gw).messages.create(model=GEMINI, max_tokens=10, messages=[user([
            {"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}])])


def test_image_answer_comes_back_as_text(gw: Gateway) -> None:
    message = create(gw, model=GEMINI, max_tokens=500, messages=[user("[[image]] draw")])
    assert "data:image/png;base64," in text(message)


# ------------------------------------------------------------------------------------------------ count tokens


def test_count_tokens_upstream_and_fallback(fresh: Gateway) -> None:
    c = client(fresh)
    kw = {"model": SONNET, "messages": [user("count these words please " * 10)],
          "tools": [{"name": "t", "input_schema": {"type": "object"}}]}
    counted = c.messages.count_tokens(**kw)
    assert counted.input_tokens > 50
    with httpx.Client() as http:
        r = http.post(fresh.url + "/v1/messages/count_tokens", json=kw, headers={"x-api-key": fresh.api_key})
    assert r.headers["x-token-count-source"] == "upstream"
    fresh.fake.inject("server_error", rpcs=["countTokens"], times=None)
    with httpx.Client() as http:
        r = http.post(fresh.url + "/v1/messages/count_tokens", json=kw, headers={"x-api-key": fresh.api_key})
    assert r.status_code == 200 and r.headers["x-token-count-source"] == "estimate"
    assert r.json()["input_tokens"] > 50


# ------------------------------------------------------------------------------------------------ Claude Code


def test_warmup_answered_locally(gw: Gateway) -> None:
    before = len(generate_requests(gw))
    message = create(gw, model=CLAUDE, max_tokens=10, messages=[user("Warmup")])
    assert text(message) == "OK"
    _, streamed = raw_stream(gw, {"model": CLAUDE, "max_tokens": 10, "messages": [user("Warmup")]})
    assert text(streamed) == "OK"
    assert len(generate_requests(gw)) == before


def test_telemetry_and_preflight(gw: Gateway) -> None:
    with httpx.Client() as http:
        for path in ("/v1/api/event_logging", "/v1/api/event_logging/batch"):
            r = http.post(gw.url + path, json={"events": [{"x": 1}]}, headers={"x-api-key": gw.api_key})
            assert r.status_code == 200
        assert http.head(gw.url + "/").status_code < 500
        r = http.post(gw.url + "/v1/messages?beta=true", headers={"x-api-key": gw.api_key},
                      json={"model": SONNET, "max_tokens": 50, "messages": [user("beta")]})
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "Echo: beta"


def test_background_task_routed_to_cheap_model(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, settings={"clients.background_model": "gemini-3.1-flash-lite"})
    try:
        message = create(gateway, model=CLAUDE, max_tokens=50, messages=[
            user("Please write a 5-10 word title for the following conversation: we fixed a bug")])
        assert message["model"] == CLAUDE
        assert last_upstream(gateway)["model"] == "gemini-3.1-flash-lite"
        create(gateway, model=CLAUDE, max_tokens=50, messages=[user("a normal question")])
        assert last_upstream(gateway)["model"] == "claude-opus-4-6-thinking"
    finally:
        gateway.close()


# ------------------------------------------------------------------------------------------------ errors


def test_bad_key_and_bad_requests(gw: Gateway) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key="wrong", max_retries=0).messages.create(
            model=SONNET, max_tokens=10, messages=[user("x")])
    with pytest.raises(anthropic.BadRequestError, match="Unknown model"):
        client(gw).messages.create(model="no-such-model", max_tokens=10, messages=[user("x")])
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        client(gw).messages.create(model=SONNET, max_tokens=10, messages=[])
    with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
        client(gw).messages.create(model=SONNET, max_tokens=10, messages=[user("x")],
                                   tool_choice={"type": "tool", "name": "missing"})


def test_model_missing_upstream_is_not_found(fresh: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client(fresh).messages.create(model="gemini-9-imaginary", max_tokens=10, messages=[user("x")])


def test_all_accounts_rate_limited(fresh: Gateway) -> None:
    fresh.fake.inject("quota_exhausted", times=None, reset_in=3600)
    with pytest.raises(anthropic.RateLimitError):
        client(fresh).messages.create(model=SONNET, max_tokens=10, messages=[user("x")])


def test_capacity_is_overloaded(fresh: Gateway) -> None:
    fresh.fake.inject("capacity", times=None, retry_delay=0.05)
    with pytest.raises(anthropic.InternalServerError) as info:
        client(fresh).messages.create(model=SONNET, max_tokens=10, messages=[user("x")])
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_prompt_too_long(gw: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError, match="Prompt is too long") as info:
        client(gw).messages.create(model=SONNET, max_tokens=10, messages=[user("word " * 170_000)])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_mid_stream_failure_is_an_error_event(fresh: Gateway) -> None:
    fresh.fake.inject("cut_stream", times=None, after_events=2)
    with pytest.raises(anthropic.APIError):
        stream(fresh, model=SONNET, max_tokens=200, messages=[user("[[chunks:6]] cut me")])
    fresh.fake.control("DELETE", "/faults")
    fresh.fake.inject("cut_stream", times=None, after_events=2)
    with httpx.Client(timeout=30) as http, pytest.raises(httpx.HTTPError):
        http.post(fresh.url + "/v1/messages", headers={"x-api-key": fresh.api_key},
                  json={"model": SONNET, "max_tokens": 200, "stream": True, "messages": [user("[[chunks:6]] x")]})


def test_truncated_stream_ends_with_max_tokens(fresh: Gateway) -> None:
    fresh.fake.inject("cut_stream", times=None, after_events=3, mode="eof")
    message = stream(fresh, model=SONNET, max_tokens=200, messages=[user("[[chunks:6]] cut cleanly")])
    assert message["stop_reason"] == "max_tokens"


def test_image_data_must_be_base64(gw: Gateway) -> None:
    bad = base64.b64encode(b"\x89PNG").decode()
    with pytest.raises(anthropic.BadRequestError):
        client(gw).messages.create(model=GEMINI, max_tokens=10, messages=[user([
            {"type": "image", "source": {"type": "base64", "media_type": "text/html", "data": bad}}])])


@pytest.mark.slow
def test_pings_while_upstream_is_silent(fresh: Gateway) -> None:
    """A stall longer than the keep-alive interval (15 s) fills the silence with Anthropic ``ping`` events."""
    fresh.fake.inject("stall", times=None, after_events=1, delay_ms=16_500)
    r, message = raw_stream(fresh, {"model": SONNET, "max_tokens": 200, "messages": [user("[[chunks:3]] slow")]})
    assert b"event: ping\ndata: {\"type\":\"ping\"}\n\n" in r.content
    assert text(message).startswith("Echo: slow") and message["stop_reason"] == "end_turn"
