"""The official `openai` SDK against the daemon and the fake upstream (issue 4)."""

from __future__ import annotations

import base64
import json
import time

import httpx
import openai
import pytest

from tests.api.conftest import ACCOUNTS
from tests.support.gateway import start_gateway
from tests.support.openai_stream_check import check_chat_stream
from tests.support.sse_parse import parse_sse

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "additionalProperties": False,
                                                           "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time",
                                          "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.api_key, max_retries=0, timeout=30)


def raw_stream(gateway, body: dict) -> list[dict]:
    """Chunks as sent on the wire (also checks the stream ends with [DONE])."""
    r = httpx.post(gateway.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=30,
                   headers={"authorization": f"Bearer {gateway.api_key}"})
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events[-1] == (None, "[DONE]")
    return [data for _, data in events[:-1]]


def test_non_stream(client, gateway):
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-3-flash", messages=[{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": "hello there"}])
    assert raw.headers["x-mapped-model"] == "gemini-3-flash" and raw.headers["x-mapping-reason"]
    assert "x-account-email" not in raw.headers  # only when security.expose_account_email is on
    r = raw.parse()
    assert r.choices[0].message.content == "Echo: hello there"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    sent = gateway.fake.requests("streamGenerateContent")[-1]
    assert sent["model"] == "gemini-3-flash"  # always streamed upstream, collected for a non-stream client


def test_stream_is_well_formed(client, gateway):
    chunks = raw_stream(gateway, {"model": "gemini-3-flash", "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "count [[chunks:6]]"}]})
    summary = check_chat_stream(chunks, include_usage=True)
    assert summary.choices[0].content.startswith("Echo: count")
    assert summary.choices[0].finish_reason == "stop"
    sdk = client.chat.completions.create(model="gemini-3-flash", stream=True,
                                         messages=[{"role": "user", "content": "hi [[chunks:3]]"}])
    text = "".join(c.choices[0].delta.content or "" for c in sdk if c.choices)
    assert text == "Echo: hi"


def test_parallel_tool_calls_have_their_own_index(client, gateway):
    prompt = 'plan [[call:get_weather {"city":"Paris"}]] [[call:get_time {"tz":"CET"}]]'
    chunks = raw_stream(gateway, {"model": "gemini-3-flash", "tools": [WEATHER, CLOCK],
                                  "messages": [{"role": "user", "content": prompt}]})
    summary = check_chat_stream(chunks, include_usage=False)
    calls = summary.choices[0].tool_calls  # the validator checked the indices: 0, then 1
    assert len(calls) == 2 and calls[0]["id"] != calls[1]["id"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert summary.choices[0].finish_reason == "tool_calls"
    r = client.chat.completions.create(model="gemini-3-flash", tools=[WEATHER, CLOCK],
                                       messages=[{"role": "user", "content": prompt}])
    assert [json.loads(t.function.arguments) for t in r.choices[0].message.tool_calls] == [{"city": "Paris"},
                                                                                            {"tz": "CET"}]


@pytest.mark.parametrize("model", ["gemini-3-flash", "claude-sonnet-4-6"])
def test_tool_result_round_trip_keeps_signatures(client, gateway, model):
    """Gemini 3 rejects a replayed call without its thought signature and Claude needs its call ids; the
    OpenAI shape carries neither signatures nor thinking, so the daemon's cache has to supply them."""
    messages = [{"role": "user", "content": 'weather? [[call:get_weather {"city":"Paris"}]]'}]
    first = client.chat.completions.create(model=model, tools=[WEATHER], messages=messages)
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "14C, cloudy"}]
    second = client.chat.completions.create(model=model, tools=[WEATHER], messages=messages)
    assert second.choices[0].message.content == "Tool results: get_weather -> 14C, cloudy"


def test_reasoning_effort_gives_reasoning_content(client):
    r = client.chat.completions.create(model="gemini-3-flash", reasoning_effort="high",
                                       messages=[{"role": "user", "content": "think [[think:Adding up.]]"}])
    assert r.choices[0].message.model_extra.get("reasoning_content") == "Adding up."
    assert r.usage.completion_tokens_details.reasoning_tokens > 0


def test_json_schema_mode(client):
    schema = {"type": "object", "properties": {"score": {"type": "integer"}, "why": {"type": "string"}},
              "required": ["score", "why"], "additionalProperties": False}
    r = client.chat.completions.create(model="gemini-3-flash", messages=[{"role": "user", "content": "rate it"}],
                                       response_format={"type": "json_schema",
                                                        "json_schema": {"name": "rating", "schema": schema}})
    data = json.loads(r.choices[0].message.content)
    assert isinstance(data["score"], int) and isinstance(data["why"], str)
    r = client.chat.completions.create(model="gemini-3-flash", messages=[{"role": "user", "content": "json"}],
                                       response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_images_as_data_and_http_urls_but_never_local_files(client, gateway):
    content = [{"type": "text", "text": "describe"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
               {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}}]
    r = client.chat.completions.create(model="gemini-3-flash", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content.startswith("Echo: describe")
    parts = gateway.fake.requests("streamGenerateContent")[-1]["body"]["request"]["contents"][0]["parts"]
    assert {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}} in parts
    assert any(p.get("fileData", {}).get("fileUri") == "https://example.org/cat.jpg" for p in parts)
    for url in ("/etc/passwd", "file:///etc/passwd"):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gemini-3-flash", messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])


def test_models_list(client):
    ids = {m.id for m in client.models.list()}
    assert {"gemini-3-flash", "claude-sonnet-4-6"} <= ids


def test_errors_surface_as_sdk_exceptions(client, gateway):
    bad = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gemini-3-flash", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "Unknown model" in str(e.value) and "gemini-3-flash" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gemini-3-flash", messages="not a list")  # type: ignore[arg-type]
    r = httpx.post(gateway.url + "/v1/chat/completions", content=b"{not json", timeout=10,
                   headers={"authorization": f"Bearer {gateway.api_key}", "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(("fault", "model"), [("rate_limit", "gemini-3.1-pro-low"), ("capacity", "gemini-3-flash"),
                                              ("server_error", "claude-sonnet-4-6"),
                                              ("quota_exhausted", "gemini-3.1-pro-high")])
def test_failover_is_invisible(tmp_path, fault, model):
    """Two of three accounts fail; the client never notices. A fresh gateway per case: the faulty accounts'
    lowered health from an earlier case would keep them out of this one."""
    gateway = start_gateway(tmp_path, accounts=ACCOUNTS)
    try:
        _failover(gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.api_key, max_retries=0),
                  fault, model)
    finally:
        gateway.close()


def _failover(gateway, client, fault, model):
    # Same known quota everywhere first, so the pool rotates over all three instead of preferring the account
    # whose quota it happens to know (it orders by remaining quota for the model).
    r = httpx.post(gateway.url + "/api/accounts/refresh-all-quotas", timeout=60,
                   headers={"authorization": f"Bearer {gateway.api_key}"})
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    for email in ("alice@fake.test", "bob@fake.test"):
        gateway.fake.inject(fault, account=email, model=model, times=None)
    before = gateway.fake.stats()
    for i in range(4):
        # Distinct first messages: distinct sessions, so stickiness does not pin every request to one account.
        prompt = f"failover request number {i} ({fault})"
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
        assert r.choices[0].message.content == f"Echo: {prompt}"
    after = gateway.fake.stats()
    # the faulty accounts were really tried
    served = [r["email"] for r in gateway.fake.requests("streamGenerateContent")[-8:]]
    assert sum(after["faults_fired"].values()) > sum(before["faults_fired"].values()), served
    gateway.fake.control("DELETE", "/faults")
    # Later requests still work (lockouts of the faulty accounts do not take the pool down).
    assert client.chat.completions.create(model=model, messages=[{"role": "user", "content": "after"}]).choices


def test_mid_stream_cut_aborts_the_client_stream(gateway):
    gateway.fake.inject("cut_stream", times=None, after_events=2, mode="close")
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {gateway.api_key}"},
                      json={"model": "gemini-3-flash", "stream": True,
                            "messages": [{"role": "user", "content": "long [[chunks:10]]"}]}) as r:
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in r.iter_lines():
                pass


def test_truncated_stream_ends_with_length(gateway):
    gateway.fake.inject("cut_stream", times=None, after_events=3, mode="eof")
    chunks = raw_stream(gateway, {"model": "gemini-3-flash",
                                  "messages": [{"role": "user", "content": "long [[chunks:10]]"}]})
    assert check_chat_stream(chunks, include_usage=False).choices[0].finish_reason == "length"


def test_client_disconnect_closes_the_upstream_connection(gateway):
    before = gateway.fake.stats()["disconnects"]
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {gateway.api_key}"},
                      json={"model": "gemini-3-flash", "stream": True, "messages": [
                          {"role": "user", "content": "slow [[chunks:50]] [[delay_ms:200]]"}]}) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first chunk
    deadline = time.monotonic() + 10
    while gateway.fake.stats()["disconnects"] <= before:  # polling the fake's counter, bounded
        assert time.monotonic() < deadline, "the upstream never saw the client go away"
        time.sleep(0.02)


def test_prompt_canary_leaves_no_trace(client, gateway):
    canary = "CANARY-7f3b9c21-do-not-store"
    client.chat.completions.create(model="gemini-3-flash", messages=[{"role": "user", "content": f"x {canary}"}])
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {gateway.api_key}"},
                      json={"model": "gemini-3-flash", "stream": True,
                            "messages": [{"role": "user", "content": f"y {canary}"}]}) as r:
        r.read()
    metrics = httpx.get(gateway.url + "/metrics", headers={"authorization": f"Bearer {gateway.api_key}"}).text
    assert canary not in metrics
    assert canary not in gateway.daemon.logs()
    # The request-log writer flushes within a second; the store must hold the rows but never the prompt.
    deadline = time.monotonic() + 10
    db = gateway.daemon.data_dir / "antigravityd.db"
    while time.monotonic() < deadline:
        listing = gateway.cli("accounts", "list", "--json")
        if listing.returncode == 0:
            break
    for path in gateway.daemon.data_dir.iterdir():
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert db.exists()
