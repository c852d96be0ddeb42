"""The fake's replies: framing, usage, directives, thinking and signatures (upstream-protocol.md §3, §9.4)."""

from __future__ import annotations

import base64
import json

from tests.fake_upstream.generation import UTF8_PREFIX, parse_directives
from tests.fake_upstream.testkit import (
    envelope,
    error_message,
    model_turn,
    parts,
    rpc,
    sse_events,
    stream,
    text_of,
    user,
)


async def test_plain_stream_framing_and_usage(fake, http, alice):
    events = await stream(http, fake, alice, envelope("gemini-2.5-flash", "Hello   there,\nfake upstream!"))
    assert text_of(events) == "Echo: Hello there, fake upstream!"
    assert len(events) > 1
    for event in events:
        assert set(event) == {"response", "traceId", "metadata"}
        assert event["response"]["modelVersion"] == "gemini-2.5-flash"
    finishes = [c.get("finishReason") for e in events for c in e["response"]["candidates"]]
    assert finishes[-1] == "STOP" and not any(finishes[:-1])
    usages = [e["response"]["usageMetadata"] for e in events]
    totals = [u["totalTokenCount"] for u in usages]
    assert totals == sorted(totals)
    last = usages[-1]
    assert last["totalTokenCount"] == last["promptTokenCount"] + last["candidatesTokenCount"]
    assert "[DONE]" not in json.dumps(events)


async def test_dollar_alt_and_json_array_stream(fake, http, alice):
    r = await rpc(http, fake, alice, "streamGenerateContent", envelope("gemini-3-flash", "hi"), query="?$alt=sse")
    assert r.headers["content-type"] == "text/event-stream"
    assert text_of(sse_events(r.text)) == "Echo: hi"
    r = await rpc(http, fake, alice, "streamGenerateContent", envelope("gemini-3-flash", "hi"))
    assert r.headers["content-type"].startswith("application/json")
    assert text_of(r.json()) == "Echo: hi"


async def test_generate_content_is_the_merged_stream(fake, http, alice):
    r = await rpc(http, fake, alice, "generateContent",
                  envelope("gemini-2.5-flash", "a fairly long prompt that spans several fragments of text"))
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.headers["server"] == "ESF" and len(r.headers["x-cloudaicompanion-trace-id"]) == 16
    response = r.json()["response"]
    candidate = response["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"] == [
        {"text": "Echo: a fairly long prompt that spans several fragments of text"}]
    assert response["usageMetadata"]["candidatesTokenCount"] > 0


async def test_parallel_calls_gemini3_sign_only_the_first(fake, http, alice):
    body = envelope("gemini-3-flash", 'Weather? [[call:get_weather {"city":"Paris"}]] [[call:get_time {"tz":"CET"}]]')
    calls = [p for p in parts(await stream(http, fake, alice, body)) if "functionCall" in p]
    assert [c["functionCall"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert calls[0]["functionCall"]["args"] == {"city": "Paris"}
    assert "id" not in calls[0]["functionCall"]
    assert calls[0]["thoughtSignature"].startswith("E") and "thoughtSignature" not in calls[1]
    assert base64.b64decode(calls[0]["thoughtSignature"])[0] == 0x12


async def test_claude_calls_carry_vertex_ids(fake, http, alice):
    body = envelope("claude-sonnet-4-6", "[[call:bash {\"command\":\"ls\"}]]")
    calls = [p["functionCall"] for p in parts(await stream(http, fake, alice, body)) if "functionCall" in p]
    assert calls[0]["id"].startswith("toolu_vrtx_01") and len(calls[0]["id"]) == len("toolu_vrtx_01") + 22


async def test_tool_results_are_named_in_the_reply(fake, http, alice):
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "skip_thought_signature_validator"}
    body = envelope("gemini-3-flash", contents=[
        user("weather?"), model_turn(call),
        user({"functionResponse": {"name": "get_weather", "response": {"result": "14C, cloudy"}}})])
    assert text_of(await stream(http, fake, alice, body)) == "Tool results: get_weather -> 14C, cloudy"


async def test_json_mode_matches_the_router_schema(fake, http, alice):
    schema = {"type": "OBJECT", "properties": {
        "complexity_reasoning": {"type": "STRING", "description": "why"},
        "complexity_score": {"type": "INTEGER", "description": "1-100"}},
        "required": ["complexity_reasoning", "complexity_score"]}
    body = envelope("gemini-3-flash", "hi", generationConfig={
        "responseMimeType": "application/json", "responseJsonSchema": schema,
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}})
    events = await stream(http, fake, alice, body)
    value = json.loads(text_of(events))
    assert isinstance(value["complexity_reasoning"], str) and isinstance(value["complexity_score"], int)
    assert any(p.get("thought") for p in parts(events))


async def test_json_mode_resolves_refs_and_enums(fake, http, alice):
    schema = {"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {
        "Item": {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}, "n": {"type": "number", "minimum": 3},
                                                  "tags": {"type": "array", "items": {"type": "string"},
                                                           "minItems": 2}}}}}
    body = envelope("gemini-2.5-flash", "x", generationConfig={"responseMimeType": "application/json",
                                                               "responseJsonSchema": schema})
    value = json.loads(text_of(await stream(http, fake, alice, body)))
    assert value == {"item": {"kind": "a", "n": 3.0, "tags": ["tags value", "tags value"]}}


async def test_chunks_gives_exactly_n_events(fake, http, alice):
    events = await stream(http, fake, alice, envelope("gemini-2.5-flash", "[[chunks:100]] go"))
    assert len(events) == 100
    assert all(parts([e]) for e in events)
    assert "finishReason" in events[-1]["response"]["candidates"][0]


async def test_coalesced_events_are_the_same_events(fake, http, alice):
    body = envelope("gemini-2.5-flash", "[[chunks:7]] [[say:same either way]]")
    separate = await stream(http, fake, alice, body)
    fake.behaviour.coalesce_events = True
    together = await stream(http, fake, alice, body)
    assert [e["response"]["candidates"] for e in separate] == [e["response"]["candidates"] for e in together]


async def test_reused_replies_repeat_the_first_answer_byte_for_byte(fake, http, alice):
    body = envelope("gemini-2.5-flash", "[[chunks:5]] [[delay_ms:1]] reuse me")
    assert await stream(http, fake, alice, body) != await stream(http, fake, alice, body)  # off: fresh ids
    fake.behaviour.reuse_replies = True
    first = await stream(http, fake, alice, body)
    assert await stream(http, fake, alice, body) == first
    other = await stream(http, fake, alice, envelope("gemini-2.5-flash", "[[chunks:5]] [[delay_ms:1]] not me"))
    assert text_of(other) != text_of(first)


async def test_say_and_image(fake, http, alice):
    events = await stream(http, fake, alice, envelope("gemini-2.5-flash", "[[say:Exactly this.]] [[image]]"))
    assert text_of(events) == "Exactly this."
    image = next(p["inlineData"] for p in parts(events) if "inlineData" in p)
    assert image["mimeType"] == "image/png" and base64.b64decode(image["data"]).startswith(b"\x89PNG")


async def test_gemini3_thoughts_and_signature_carrier(fake, http, alice):
    body = envelope("gemini-3-flash", "think", generationConfig={"thinkingConfig": {"includeThoughts": True}})
    events = await stream(http, fake, alice, body)
    ps = parts(events)
    assert ps[0].get("thought") is True
    carrier = ps[-1]
    assert carrier["text"] == "" and carrier["thoughtSignature"].startswith("E")
    assert "thoughtsTokenCount" in events[-1]["response"]["usageMetadata"]
    # without includeThoughts, no thought text — but Gemini 3 still signs
    events = await stream(http, fake, alice, envelope("gemini-3-flash", "think"))
    assert not any(p.get("thought") for p in parts(events))
    assert parts(events)[-1]["thoughtSignature"].startswith("E")


async def test_claude_thinking_r_form_signature(fake, http, alice):
    events = await stream(http, fake, alice, envelope("claude-opus-4-6-thinking", "think"))
    ps = parts(events)
    signed = [p for p in ps if "thoughtSignature" in p]
    assert len(signed) == 1 and signed[0]["thought"] is True and signed[0]["text"] == ""
    sig = signed[0]["thoughtSignature"]
    assert sig.startswith("R")
    e_form = base64.b64decode(sig).decode()
    assert e_form.startswith("E") and base64.b64decode(e_form)[0] == 0x12
    assert events[0]["response"]["responseId"].startswith("msg_vrtx_01")
    assert "thoughtsTokenCount" not in events[-1]["response"]["usageMetadata"]


async def test_claude_signature_on_last_fragment(fake, http, alice):
    fake.behaviour.claude_signature_position = "last_fragment"
    ps = parts(await stream(http, fake, alice, envelope("claude-opus-4-6-thinking", "think")))
    signed = [p for p in ps if "thoughtSignature" in p]
    assert len(signed) == 1 and signed[0]["text"] != ""


async def test_output_limits(fake, http, alice):
    body = envelope("gemini-2.5-flash", "[[say:one two three four five six]]",
                    generationConfig={"maxOutputTokens": 2})
    events = await stream(http, fake, alice, body)
    assert text_of(events) == "one two "
    assert events[-1]["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    body = envelope("gemini-2.5-flash", "[[say:alpha STOP beta]]", generationConfig={"stopSequences": ["STOP"]})
    assert text_of(await stream(http, fake, alice, body)) == "alpha "


async def test_candidate_count(fake, http, alice):
    r = await rpc(http, fake, alice, "generateContent",
                  envelope("gemini-2.5-flash", "hi", generationConfig={"candidateCount": 2}))
    texts = [c["content"]["parts"][0]["text"] for c in r.json()["response"]["candidates"]]
    assert texts == ["Echo: hi", "Echo: hi (candidate 2)"]


async def test_count_tokens(fake, http, alice):
    request = {"contents": [user("x" * 400)]}
    r = await rpc(http, fake, alice, "countTokens", {"request": request})
    assert r.status_code == 200 and r.json()["totalTokens"] == 100
    r = await rpc(http, fake, alice, "countTokens", {"request": request, "model": "gemini-3-flash"})
    assert r.status_code == 400
    assert error_message(r) == "Invalid JSON payload received. Unknown name \"model\" at '': Cannot find field."
    fake.behaviour.count_tokens_nested = True
    r = await rpc(http, fake, alice, "countTokens", {"request": {**request, "model": "models/gemini-3-flash"}})
    assert r.json() == {"response": {"totalTokens": 100, "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 100}]}}


async def test_unknown_methods_are_404(fake, http, alice):
    for method in ("listExperiments", "models/gemini-3-flash:countTokens"):
        r = await rpc(http, fake, alice, method, {})
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


async def test_version_gate(fake, http, alice):
    fake.strict.min_client_version = "1.200.0"
    assert text_of(await stream(http, fake, alice, envelope("gemini-3-flash", "hi"))).startswith(
        "This version of Antigravity is no longer supported.")
    fake.strict.min_client_version = "1.100.0"
    assert text_of(await stream(http, fake, alice, envelope("gemini-3-flash", "hi"))) == "Echo: hi"


def test_directive_parsing():
    d = parse_directives('a [[call:f {"x": [1, 2]}]] b [[chunks:3]][[delay_ms:5]] [[first_byte_ms:7]] '
                         '[[finish:max_tokens]] [[call:g]]')
    assert d.calls == [("f", {"x": [1, 2]}), ("g", {})]
    assert (d.chunks, d.delay_ms, d.first_byte_ms, d.finish) == (3, 5.0, 7.0, "MAX_TOKENS")
    assert d.text == "a b"
    assert UTF8_PREFIX.encode() != UTF8_PREFIX.encode("latin-1", "replace")
