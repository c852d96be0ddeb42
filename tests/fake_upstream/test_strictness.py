"""The fake rejects what the real service rejects, with the real message shapes (§4.4, §4.5, §9, §10.1, §11.2)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.fake_upstream import ModelSpec
from tests.fake_upstream.testkit import UA, envelope, error_message, model_turn, parts, rpc, stream, text_of, user

SENTINEL = "skip_thought_signature_validator"


async def generate(http, fake, account, body):
    return await rpc(http, fake, account, "streamGenerateContent", body, query="?alt=sse")


def claude_inner(r) -> str:
    """The Anthropic error travels as a JSON *string* in error.message."""
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    inner = json.loads(error_message(r))
    assert inner["type"] == "error" and inner["error"]["type"] == "invalid_request_error"
    assert inner["request_id"].startswith("req_vrtx_011CZ")
    return inner["error"]["message"]


# ---------------------------------------------------------------------------------------------------- auth


async def test_missing_unknown_and_expired_tokens_get_401(fake, http, alice):
    body = envelope("gemini-3-flash", "hi")
    url = f"{fake.base_url}:streamGenerateContent?alt=sse"
    r = await http.post(url, json=body, headers={"user-agent": UA})
    assert r.status_code == 401
    assert r.headers["content-type"] == "text/event-stream"  # even stream errors say event-stream (§1.5)
    err = r.json()["error"]
    assert err["status"] == "UNAUTHENTICATED" and err["details"][0]["reason"] == "CREDENTIALS_MISSING"
    r = await rpc(http, fake, "ya29.not-a-token", "streamGenerateContent", body, query="?alt=sse")
    err = r.json()["error"]
    assert r.status_code == 401 and err["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert err["message"].startswith("Request had invalid authentication credentials.")
    assert err["details"][0]["metadata"]["method"].endswith("CloudCode.StreamGenerateContent")
    fake.expire_access_tokens(alice.email)
    r = await generate(http, fake, alice, body)
    assert r.status_code == 401 and r.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    fake.strict.auth = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_user_agent_check(fake, http, alice):
    r = await http.post(f"{fake.base_url}:generateContent", json=envelope("gemini-3-flash", "hi"),
                        headers={"authorization": f"Bearer {alice.access_token}", "user-agent": "Mozilla/5.0"})
    assert r.status_code == 403 and r.json()["error"]["details"][0]["reason"] == "CONSUMER_INVALID"
    fake.strict.user_agent = False
    r = await http.post(f"{fake.base_url}:generateContent", json=envelope("gemini-3-flash", "hi"),
                        headers={"authorization": f"Bearer {alice.access_token}", "user-agent": "Mozilla/5.0"})
    assert r.status_code == 200


# ---------------------------------------------------------------------------------------------------- proto fields


async def test_unknown_envelope_and_request_fields(fake, http, alice):
    body = envelope("gemini-3-flash", "hi")
    body["clientMetadata"] = {}
    body["request"]["output_config"] = {}
    body["request"]["contents"][0]["parts"][0]["cache_control"] = {"type": "ephemeral"}
    r = await generate(http, fake, alice, body)
    assert r.status_code == 400
    assert error_message(r).split("\n") == [
        "Invalid JSON payload received. Unknown name \"cache_control\" at 'request.contents[0].parts[0]': "
        "Cannot find field.",
        "Invalid JSON payload received. Unknown name \"output_config\" at 'request': Cannot find field.",
        "Invalid JSON payload received. Unknown name \"clientMetadata\" at '': Cannot find field.",
    ]
    violations = r.json()["error"]["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == ["request.contents[0].parts[0]", "request", ""]
    fake.strict.proto_fields = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_snake_case_is_accepted(fake, http, alice):
    body = {"project": "p", "model": "gemini-2.5-flash", "user_agent": "antigravity", "request_id": "x",
            "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                        "generation_config": {"max_output_tokens": 100, "thinking_config": {"include_thoughts": True}},
                        "session_id": "sid-1", "tool_config": {"function_calling_config": {"mode": "validated"}}}}
    assert (await generate(http, fake, alice, body)).status_code == 200


def tool_body(parameters, model="gemini-2.5-flash") -> dict:
    decls = [{"name": f"f{i}", "description": "d", "parameters": {"type": "object"}} for i in range(3)]
    decls.append({"name": "target", "parameters": parameters})
    return envelope(model, "hi", tools=[{"functionDeclarations": decls}])


@pytest.mark.parametrize(("parameters", "message"), [
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
     "Invalid JSON payload received. Unknown name \"$schema\" at 'request.tools[0].function_declarations[3]"
     ".parameters': Cannot find field."),
    ({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": ["string", "null"]}}},
     "Invalid JSON payload received. Unknown name \"type\" at 'request.tools[0].function_declarations[3]"
     ".parameters.properties[1].value': Proto field is not repeating, cannot start list."),
    ({"type": "object", "properties": {"a": "object"}},
     "Invalid value at 'request.tools[0].function_declarations[3].parameters.properties[0].value' "
     "(type.googleapis.com/google.cloud.aiplatform.master.Schema), \"object\""),
    ({"type": "object", "properties": {"a": {"type": "array", "items": False}}},
     "Invalid value at 'request.tools[0].function_declarations[3].parameters.properties[0].value.items' "
     "(type.googleapis.com/google.cloud.aiplatform.master.Schema), false"),
    ({"type": "object", "properties": {"a": {"anyOf": [{"const": "x"}]}}},
     "Invalid JSON payload received. Unknown name \"const\" at 'request.tools[0].function_declarations[3]"
     ".parameters.properties[0].value.any_of[0]': Cannot find field."),
    ({"type": "object", "additionalProperties": False},
     "Invalid JSON payload received. Unknown name \"additionalProperties\" at 'request.tools[0]"
     ".function_declarations[3].parameters': Cannot find field."),
    ({"type": "integer", "enum": [1, 2]},
     "Invalid value at 'request.tools[0].function_declarations[3].parameters.enum[0]' (TYPE_STRING), 1\n"
     "Invalid value at 'request.tools[0].function_declarations[3].parameters.enum[1]' (TYPE_STRING), 2"),
    ({"type": "strange"},
     "Invalid value at 'request.tools[0].function_declarations[3].parameters.type' "
     "(type.googleapis.com/google.cloud.aiplatform.master.Type), \"strange\""),
])
async def test_tool_schema_proto_whitelist(fake, http, alice, parameters, message):
    r = await generate(http, fake, alice, tool_body(parameters))
    assert r.status_code == 400 and error_message(r) == message


async def test_legal_schema_and_json_schema_spelling_pass(fake, http, alice):
    legal = {"type": "OBJECT", "description": "d", "properties": {
        "n": {"type": "integer", "minimum": 0, "maximum": 9, "nullable": True},
        "s": {"type": "string", "enum": ["a"], "format": "enum", "pattern": "^a$", "default": "a"},
        "l": {"type": "array", "items": {"type": "string"}, "minItems": "1"},
        "u": {"anyOf": [{"type": "string"}, {"type": "number"}]}}, "required": ["n"], "propertyOrdering": ["n"]}
    assert (await generate(http, fake, alice, tool_body(legal))).status_code == 200
    body = envelope("gemini-2.5-flash", "hi", tools=[{"functionDeclarations": [
        {"name": "f", "parametersJsonSchema": {"$schema": "x", "type": "object", "additionalProperties": False}}]}])
    assert (await generate(http, fake, alice, body)).status_code == 200
    fake.strict.schema_whitelist = False
    assert (await generate(http, fake, alice, tool_body({"$schema": "x"}))).status_code == 200


async def test_bad_bytes_and_enum_values(fake, http, alice):
    body = envelope("gemini-2.5-flash", contents=[user({"inlineData": {"mimeType": "image/png", "data": "%%%"}})])
    r = await generate(http, fake, alice, body)
    assert error_message(r) == "Invalid value at 'request.contents[0].parts[0].inline_data.data' (TYPE_BYTES), \"%%%\""
    body = envelope("gemini-3-flash", "hi", generationConfig={"thinkingConfig": {"thinkingLevel": "ultra"}})
    r = await generate(http, fake, alice, body)
    assert error_message(r) == (
        "Invalid value at 'request.generation_config.thinking_config.thinking_level' "
        "(type.googleapis.com/google.cloud.aiplatform.master.GenerationConfig.ThinkingConfig.ThinkingLevel), \"ultra\"")


async def test_one_data_field_per_part(fake, http, alice):
    body = envelope("gemini-2.5-flash", contents=[user({"text": "a", "functionCall": {"name": "f"}})])
    r = await generate(http, fake, alice, body)
    assert "Oneof field 'data' is already set. Cannot set 'functionCall'" in error_message(r)
    body = envelope("gemini-2.5-flash", contents=[user({"thought": True})])
    r = await generate(http, fake, alice, body)
    assert "required oneof field 'data'" in error_message(r)


# ---------------------------------------------------------------------------------------------------- shape


async def test_contents_roles_and_parts(fake, http, alice):
    r = await generate(http, fake, alice, envelope("gemini-2.5-flash", contents=[]))
    assert "contents is not specified" in error_message(r)
    r = await generate(http, fake, alice, envelope("gemini-2.5-flash", contents=[{"role": "system", "parts": [
        {"text": "x"}]}]))
    assert error_message(r) == "Please use a valid role: user, model."
    r = await generate(http, fake, alice, envelope("gemini-2.5-flash", contents=[{"role": "user", "parts": []}]))
    assert "at least one parts field" in error_message(r)
    fake.strict.part_shape = False
    r = await generate(http, fake, alice, envelope("gemini-2.5-flash", contents=[{"role": "system", "parts": [
        {"text": "x"}]}]))
    assert r.status_code == 200


async def test_search_tool_mix(fake, http, alice):
    body = envelope("gemini-2.5-flash", "hi", tools=[{"googleSearch": {}},
                                                    {"functionDeclarations": [{"name": "f"}]}])
    r = await generate(http, fake, alice, body)
    assert error_message(r) == "Multiple tools are supported only when they are all search tools."
    body["request"]["tools"] = [{"googleSearch": {}}]
    assert (await generate(http, fake, alice, body)).status_code == 200


# ---------------------------------------------------------------------------------------------------- Gemini rules


def call_part(name="get_weather", sig=None, cid=None):
    fc = {"name": name, "args": {"city": "Paris"}}
    if cid:
        fc["id"] = cid
    part = {"functionCall": fc}
    if sig:
        part["thoughtSignature"] = sig
    return part


def response_part(name="get_weather", cid=None):
    fr = {"name": name, "response": {"result": "14C"}}
    if cid:
        fr["id"] = cid
    return {"functionResponse": fr}


async def test_gemini3_missing_signature(fake, http, alice):
    body = envelope("gemini-3-flash", contents=[user("weather?"), model_turn(call_part()), user(response_part())])
    r = await generate(http, fake, alice, body)
    assert r.status_code == 400
    assert error_message(r) == (
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
        "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
        "call `default_api:get_weather` , position 1. Please refer to "
        "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")
    # the sentinel passes, and so does a signature the fake issued in an earlier reply
    body["request"]["contents"][1] = model_turn(call_part(sig=SENTINEL))
    assert (await generate(http, fake, alice, body)).status_code == 200
    issued = next(p for p in parts(await stream(http, fake, alice, envelope(
        "gemini-3-flash", "[[call:get_weather {\"city\":\"Paris\"}]]"))) if "functionCall" in p)
    body["request"]["contents"][1] = model_turn(issued)
    assert (await generate(http, fake, alice, body)).status_code == 200
    # Gemini 2.5 has no such rule
    body["model"] = "gemini-2.5-flash"
    body["request"]["contents"][1] = model_turn(call_part())
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_gemini3_signature_scope(fake, http, alice):
    old_turn = [user("first"), model_turn(call_part()), user(response_part()), model_turn("done"), user("next")]
    body = envelope("gemini-3-flash", contents=old_turn)
    assert (await generate(http, fake, alice, body)).status_code == 200  # older turns are lenient
    fake.strict.gemini_signature_scope = "all"
    assert "position 1" in error_message(await generate(http, fake, alice, body))
    fake.strict.gemini3_signatures = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_gemini_foreign_signature(fake, http, alice):
    claude_sig = fake.state.issue_signature("claude", "claude-opus-4-6-thinking")
    body = envelope("gemini-3-flash", contents=[user("w"), model_turn(call_part(sig=claude_sig)),
                                                user(response_part())])
    r = await generate(http, fake, alice, body)
    assert error_message(r).startswith("Unable to submit request because Thought signature is not valid.")
    assert r.json()["error"]["errors"][0]["reason"] == "badRequest"
    fake.strict.reject_foreign_signatures = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_gemini_turn_order_and_response_count(fake, http, alice):
    body = envelope("gemini-2.5-flash", contents=[model_turn(call_part()), user(response_part())])
    assert error_message(await generate(http, fake, alice, body)).startswith(
        "Please ensure that function call turn comes immediately after a user turn")
    body = envelope("gemini-2.5-flash", contents=[user("x"), model_turn(call_part(), call_part("b")),
                                                  user(response_part())])
    assert error_message(await generate(http, fake, alice, body)).startswith(
        "Please ensure that the number of function response parts is equal")


# ---------------------------------------------------------------------------------------------------- Claude rules

CLAUDE = "claude-opus-4-6-thinking"


async def issued_claude_turn(http, fake, account) -> list[dict]:
    """Thought parts + a tool call exactly as the fake emitted them."""
    ps = parts(await stream(http, fake, account, envelope(CLAUDE, "[[call:bash {\"command\":\"ls\"}]]")))
    merged = [{"text": "".join(p["text"] for p in ps if p.get("thought")), "thought": True,
               "thoughtSignature": next(p["thoughtSignature"] for p in ps if "thoughtSignature" in p)}]
    return merged + [p for p in ps if "functionCall" in p]


async def test_claude_signatures(fake, http, alice):
    turn = await issued_claude_turn(http, fake, alice)
    cid = turn[1]["functionCall"]["id"]
    body = envelope(CLAUDE, contents=[user("ls"), model_turn(*turn),
                                      user({"functionResponse": {"name": "bash", "id": cid, "response": {}}})])
    r = await generate(http, fake, alice, body)
    assert r.status_code == 200, r.text
    # the decoded (E-form) signature is accepted too (lenient, ❓ in the reference)
    turn[0]["thoughtSignature"] = base64.b64decode(turn[0]["thoughtSignature"]).decode()
    assert (await generate(http, fake, alice, body)).status_code == 200
    fake.strict.claude_accept_e_form = False
    assert claude_inner(await generate(http, fake, alice, body)) == \
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    turn[0]["thoughtSignature"] = SENTINEL  # never valid for Claude
    assert claude_inner(await generate(http, fake, alice, body)) == \
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    del turn[0]["thoughtSignature"]
    assert claude_inner(await generate(http, fake, alice, body)) == \
        "messages.1.content.0.thinking.signature: Field required"
    fake.strict.claude_signatures = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_claude_thinking_must_lead_the_tool_turn(fake, http, alice):
    cid = "toolu_vrtx_01AAAAAAAAAAAAAAAAAAAAAA"
    body = envelope(CLAUDE, contents=[user("ls"), model_turn("I'll run it.", call_part("bash", cid=cid)),
                                      user(response_part("bash", cid=cid))])
    assert claude_inner(await generate(http, fake, alice, body)).startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`.")
    body["request"]["generationConfig"] = {"thinkingConfig": {"thinkingBudget": 0}}
    assert (await generate(http, fake, alice, body)).status_code == 200  # thinking off: no rule
    body["model"] = "claude-sonnet-4-6"
    del body["request"]["generationConfig"]
    assert (await generate(http, fake, alice, body)).status_code == 200  # not a thinking id, none requested


async def test_claude_tool_pairing(fake, http, alice):
    fake.strict.claude_thinking_first = False
    cid = "toolu_vrtx_01BBBBBBBBBBBBBBBBBBBBBB"
    body = envelope("claude-sonnet-4-6", contents=[user("ls"), model_turn(call_part("bash", cid=cid)), user("hm")])
    assert claude_inner(await generate(http, fake, alice, body)) == (
        f"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: {cid}. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.")
    stray = envelope("claude-sonnet-4-6", contents=[user("ls"), model_turn("ok"),
                                                    user(response_part("bash", cid="toolu_vrtx_01other"))])
    assert claude_inner(await generate(http, fake, alice, stray)).startswith(
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_vrtx_01other.")
    body["request"]["contents"][1] = model_turn(call_part("bash"))
    assert claude_inner(await generate(http, fake, alice, body)) == "messages.1.content.0.tool_use.id: Field required"
    fake.strict.claude_tool_pairing = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_claude_prefill_and_empty_text(fake, http, alice):
    body = envelope("claude-sonnet-4-6", contents=[user("hi"), model_turn("Sure,")])
    assert claude_inner(await generate(http, fake, alice, body)) == (
        "This model does not support assistant message prefill. The conversation must end with a user message.")
    fake.strict.claude_prefill = False
    assert (await generate(http, fake, alice, body)).status_code == 200
    body = envelope("claude-sonnet-4-6", contents=[user("hi", "  ")])
    assert claude_inner(await generate(http, fake, alice, body)) == "messages: text content blocks must be non-empty"


async def test_prompt_too_long(fake, http):
    small = [ModelSpec("claude-sonnet-4-6", "claude", "C", 1000, 100, thinking=True),
             ModelSpec("gemini-3-flash", "gemini", "G", 1000, 100, thinking=True)]
    acct = fake.add_account("small@example.com", models=small)
    r = await generate(http, fake, acct, envelope("claude-sonnet-4-6", "x" * 404))
    assert claude_inner(r) == "prompt is too long: 101 tokens > 100 maximum"
    r = await generate(http, fake, acct, envelope("gemini-3-flash", "x" * 404))
    assert error_message(r) == "The input token count (101) exceeds the maximum number of tokens allowed (100)."
    assert (await generate(http, fake, acct, envelope("gemini-3-flash", "x" * 400))).status_code == 200


# ---------------------------------------------------------------------------------------------------- config


async def test_generation_config_limits(fake, http, alice):
    body = envelope("gemini-3-flash", "hi", generationConfig={"maxOutputTokens": 131072})
    assert error_message(await generate(http, fake, alice, body)) == (
        "Unable to submit request because it has a maxOutputTokens value of 131072 but the supported range is from 1 "
        "(inclusive) to 65537 (exclusive). Update the value and try again.")
    body = envelope("gemini-3-flash", "hi", generationConfig={"stopSequences": list("abcdef")})
    assert "maximum is 5" in error_message(await generate(http, fake, alice, body))
    body = envelope("gemini-2.5-flash", "hi", generationConfig={"thinkingConfig": {"thinkingLevel": "low"}})
    assert "thinking_level is not supported" in error_message(await generate(http, fake, alice, body))
    body["model"] = "gemini-3-flash"
    assert (await generate(http, fake, alice, body)).status_code == 200
    body = envelope("gemini-3-flash", "hi", generationConfig={"maxOutputTokens": 2000,
                                                               "thinkingConfig": {"thinkingBudget": 2000}})
    assert "must be greater than thinkingBudget" in error_message(await generate(http, fake, alice, body))
    body["model"] = "claude-opus-4-6-thinking"
    assert claude_inner(await generate(http, fake, alice, body)).startswith(
        "`max_tokens` must be greater than `thinking.budget_tokens`.")
    body["request"]["generationConfig"] = {"maxOutputTokens": 4000, "thinkingConfig": {"thinkingBudget": 500}}
    assert claude_inner(await generate(http, fake, alice, body)) == \
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    fake.strict.claude_min_budget = False
    assert (await generate(http, fake, alice, body)).status_code == 200


async def test_unknown_model_is_404(fake, http, alice):
    r = await generate(http, fake, alice, envelope("gemini-9-ultra", "hi"))
    assert r.status_code == 404
    assert r.json() == {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
    fake.strict.unknown_model = False
    assert text_of(await stream(http, fake, alice, envelope("gemini-9-ultra", "hi"))) == "Echo: hi"
