"""Error classification with the real bodies of upstream-protocol.md §4, and the duration/time parsers."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.outcomes import FailureKind
from antigravityd.upstream.durations import parse_go_duration, parse_proto_duration, parse_retry_after, parse_rfc3339
from antigravityd.upstream.errors import classify_response, classify_transport, describe_delay
from antigravityd.upstream.sse import SSELineTooLong

NOW = dt.datetime(2026, 4, 10, 2, 3, 28, 365153, tzinfo=dt.UTC).timestamp()
CANARY = "CANARY-7f3e prompt text that must never leak"


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def classify(status, obj, headers=None, **kw):
    raw = obj if isinstance(obj, bytes) else body(obj)
    failure = classify_response(status, raw, headers, now=NOW, **kw)
    assert CANARY not in failure.message
    return failure


RATE_LIMIT_SHORT = {"error": {
    "code": 429, "message": "You have exhausted your capacity on this model. Your quota will reset after 0s.",
    "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
         "domain": "cloudcode-pa.googleapis.com", "metadata": {
             "uiMessage": "true", "model": "claude-opus-4-6-thinking", "quotaResetDelay": "634.846608ms",
             "quotaResetTimeStamp": "2026-04-10T02:03:29Z"}},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.634846608s"}]}}

QUOTA_LONG = {"error": {
    "code": 429, "message": "You have exhausted your capacity on this model. Your quota will reset after 161h39m41s.",
    "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
         "domain": "cloudcode-pa.googleapis.com", "metadata": {
             "uiMessage": "true", "model": "gemini-3-pro-high", "quotaResetDelay": "161h39m41.300432511s",
             "quotaResetTimeStamp": "2026-01-18T09:12:03Z"}},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "581981.300432511s"}]}}

CAPACITY = {"error": {
    "code": 503, "message": "No capacity available for model claude-sonnet-4-6 on the server", "status": "UNAVAILABLE",
    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MODEL_CAPACITY_EXHAUSTED",
                 "domain": "cloudcode-pa.googleapis.com", "metadata": {"model": "claude-sonnet-4-6"}},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"}]}}

VERIFY = {"error": {
    "code": 403, "message": "Verify your account to continue.", "status": "PERMISSION_DENIED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "VALIDATION_REQUIRED",
         "domain": "cloudcode-pa.googleapis.com", "metadata": {
             "validation_url": "https://accounts.google.com/signin/continue?sarp=1&scc=1&x=y",
             "validation_url_link_text": "Verify your account"}},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [
            {"description": "Verify your account", "url": "https://accounts.google.com/signin/continue?h=1"}]}]}}

TOS = {"error": {
    "code": 403, "message": "This service has been disabled in this account for violation of Terms of Service. "
                            "Please submit an appeal to continue using this product.",
    "status": "PERMISSION_DENIED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TOS_VIOLATION",
         "domain": "cloudcode-pa.googleapis.com",
         "metadata": {"uiMessage": "true", "appeal_url": "https://support.google.com/appeal/x",
                      "appeal_url_link_text": "Submit an appeal"}}]}}


def test_rate_limit_short():
    f = classify(429, RATE_LIMIT_SHORT)
    assert f.kind is FailureKind.RATE_LIMITED and f.reason == "RATE_LIMIT_EXCEEDED" and f.status == 429
    assert f.retry_after == pytest.approx(0.634846608)
    assert f.reset_at == dt.datetime(2026, 4, 10, 2, 3, 29, tzinfo=dt.UTC).timestamp()
    assert f.model == "claude-opus-4-6-thinking"
    assert f.message == "Upstream rate limit reached for model claude-opus-4-6-thinking; retry after 0.6s"


def test_quota_exhausted_long():
    f = classify(429, QUOTA_LONG)
    assert f.kind is FailureKind.QUOTA_EXHAUSTED and f.retry_after == pytest.approx(581981.300432511)
    assert f.model == "gemini-3-pro-high" and f.message.endswith("resets in 161h39m")


def test_retry_info_missing_falls_back_to_quota_reset_delay_then_timestamp():
    obj = json.loads(json.dumps(RATE_LIMIT_SHORT))
    del obj["error"]["details"][1]
    assert classify(429, obj).retry_after == pytest.approx(0.634846608)
    del obj["error"]["details"][0]["metadata"]["quotaResetDelay"]
    f = classify(429, obj)
    assert f.retry_after == pytest.approx(0.634847, abs=1e-3)  # quotaResetTimeStamp − now


def test_retry_after_header_wins():
    f = classify(429, RATE_LIMIT_SHORT, httpx.Headers({"Retry-After": "7"}))
    assert f.retry_after == 7.0
    f = classify(429, RATE_LIMIT_SHORT, {"retry-after": "Fri, 10 Apr 2026 02:04:28 GMT"})
    assert f.retry_after == pytest.approx(59.634847, abs=1e-3)


def test_error_info_found_by_type_not_position():
    obj = json.loads(json.dumps(QUOTA_LONG))
    obj["error"]["details"].reverse()
    f = classify(429, obj)
    assert f.kind is FailureKind.QUOTA_EXHAUSTED and f.retry_after == pytest.approx(581981.300432511)


def test_array_wrapped_body():
    f = classify(429, body([RATE_LIMIT_SHORT]))
    assert f.kind is FailureKind.RATE_LIMITED and f.retry_after == pytest.approx(0.634846608)


def test_bare_resource_exhausted_and_text_patterns():
    bare = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED"}}
    f = classify(429, bare)
    assert f.kind is FailureKind.RESOURCE_EXHAUSTED and f.retry_after is None
    assert f.reason == "RESOURCE_EXHAUSTED"
    per_minute = {"error": {"code": 429, "message": "Quota exceeded for requests per minute. Try again in 30s.",
                            "status": "RESOURCE_EXHAUSTED"}}
    f = classify(429, per_minute)
    assert f.kind is FailureKind.RATE_LIMITED and f.retry_after == 30.0
    individual = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": (
        "Individual quota reached. Please upgrade your subscription to increase your limits. Resets in 9h22m20s.")}}
    f = classify(429, individual)
    assert f.kind is FailureKind.QUOTA_EXHAUSTED and f.retry_after == 33740.0
    long_capacity = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message":
                               "You have exhausted your capacity on this model. Your quota will reset after 2h1m0s."}}
    assert classify(429, long_capacity).kind is FailureKind.QUOTA_EXHAUSTED  # ≥ 5 min: a quota, not a blip
    legacy = {"error": {"code": 429, "message": "Too many", "status": "RESOURCE_EXHAUSTED",
                        "errors": [{"message": "x", "domain": "global", "reason": "rateLimitExceeded"}]}}
    assert classify(429, legacy).kind is FailureKind.RATE_LIMITED


def test_capacity_and_server_errors():
    f = classify(503, CAPACITY)
    assert f.kind is FailureKind.CAPACITY and f.retry_after == 40.0 and f.model == "claude-sonnet-4-6"
    f = classify(503, {"error": {"code": 503, "message": "No capacity available for model x on the server",
                                 "status": "UNAVAILABLE"}})
    assert f.kind is FailureKind.CAPACITY
    for status, message in ((500, "Internal error encountered."), (503, "The service is currently unavailable."),
                            (502, "bad gateway"), (529, "plain")):
        f = classify(status, {"error": {"code": status, "message": message, "status": "X"}})
        assert f.kind is FailureKind.SERVER_ERROR, status
        assert f.message == f"Upstream server error (HTTP {status})"
    assert classify(529, {"error": {"code": 529, "message": "Overloaded"}}).kind is FailureKind.CAPACITY


def test_not_json_bodies():
    f = classify(502, b"<html><body>Bad Gateway " + CANARY.encode() + b"</body></html>")
    assert f.kind is FailureKind.SERVER_ERROR and f.reason == ""
    assert classify(429, b"rate limit exceeded, slow down").kind is FailureKind.RATE_LIMITED
    assert classify(400, b"").kind is FailureKind.BAD_REQUEST
    assert classify(403, b"Verify your account to continue").kind is FailureKind.VERIFICATION_REQUIRED


def test_unauthenticated():
    obj = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid authentication "
           "credentials.", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                        "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "domain": "googleapis.com"}]}}
    f = classify(401, obj)
    assert f.kind is FailureKind.UNAUTHENTICATED and f.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert classify(401, b"").kind is FailureKind.UNAUTHENTICATED


def test_403_family():
    f = classify(403, VERIFY)
    assert f.kind is FailureKind.VERIFICATION_REQUIRED
    assert f.detail_url == "https://accounts.google.com/signin/continue?sarp=1&scc=1&x=y"
    f = classify(403, TOS)
    assert f.kind is FailureKind.TOS_BANNED and f.detail_url == "https://support.google.com/appeal/x"
    older = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message":
                       "To continue, verify your account at\n\nhttps://accounts.google.com/signin/continue?a=b"}}
    f = classify(403, older)
    assert f.kind is FailureKind.VERIFICATION_REQUIRED
    assert f.detail_url == "https://accounts.google.com/signin/continue?a=b"
    old_tos = {"error": {"code": 403, "status": "PERMISSION_DENIED",
                         "message": "Gemini has been disabled in this account for violation of Terms of Service"}}
    assert classify(403, old_tos).kind is FailureKind.TOS_BANNED
    disabled = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "Cloud Code Private API has not "
                "been used in project 1 before or it is disabled.", "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                     "metadata": {"activationUrl": "https://console.developers.google.com/apis/x"}}]}}
    f = classify(403, disabled)
    assert f.kind is FailureKind.VERIFICATION_REQUIRED and f.detail_url.startswith("https://console")
    f = classify(403, {"error": {"code": 403, "message": "The caller does not have permission"}})
    assert f.kind is FailureKind.FORBIDDEN and f.detail_url is None


def test_404_and_408():
    f = classify(404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}},
                 model="gemini-9")
    assert f.kind is FailureKind.NOT_FOUND and f.model == "gemini-9"
    assert f.message == "Model gemini-9 is not available upstream for this account"
    assert classify(408, b"").kind is FailureKind.TIMEOUT


SIGNATURE_400S = [
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call "
    "`default_api:get_weather` , position 2. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures "
    "for more details.",
    "Unable to submit request because Thought signature is not valid.. Learn more: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini",
    "Corrupted thought signature.",
    json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                           "message": "messages.1.content.0: Invalid `signature` in `thinking` block"},
                "request_id": "req_vrtx_011CZabc"}),
    json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                           "message": "messages.3.content.0.thinking.signature: Field required"}}),
    json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message":
               "messages.5.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When "
               "`thinking` is enabled, a final `assistant` message must start with a thinking block."}}),
]


@pytest.mark.parametrize("message", SIGNATURE_400S)
def test_signature_400s(message):
    f = classify(400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
    assert f.kind is FailureKind.SIGNATURE_INVALID
    assert "signature" in f.message or "thinking" in f.message


def test_prompt_too_long():
    claude = json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                    "message": "prompt is too long: 278399 tokens > 200000 maximum"}})
    f = classify(400, {"error": {"code": 400, "message": claude, "status": "INVALID_ARGUMENT"}})
    assert f.kind is FailureKind.PROMPT_TOO_LONG
    assert f.message == "Prompt is too long (278399 tokens > 200000 maximum)"
    gemini = "The input token count (1172034) exceeds the maximum number of tokens allowed (1048576)."
    f = classify(400, {"error": {"code": 400, "message": gemini, "status": "INVALID_ARGUMENT"}})
    assert f.kind is FailureKind.PROMPT_TOO_LONG and f.message.startswith("Prompt is too long (1172034")
    assert classify(413, b"").kind is FailureKind.PROMPT_TOO_LONG


def test_bad_request_messages_are_sanitized_but_useful():
    unknown = ("Invalid JSON payload received. Unknown name \"$schema\" at 'request.tools[0].function_declarations[3]"
               ".parameters': Cannot find field.\nInvalid JSON payload received. Unknown name \"type\" at 'request."
               "tools[0].function_declarations[25].parameters.properties[1].value': Proto field is not repeating, "
               "cannot start list.")
    f = classify(400, {"error": {"code": 400, "message": unknown, "status": "INVALID_ARGUMENT"}})
    assert f.kind is FailureKind.BAD_REQUEST and f.reason == "INVALID_ARGUMENT"
    assert f.message == (
        "Upstream rejected the request (HTTP 400): field \"type\" at 'request.tools[0].function_declarations[25]"
        ".parameters.properties[1].value' must not be a list; unknown field \"$schema\" at 'request.tools[0]"
        ".function_declarations[3].parameters'")
    prefill = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message":
                          "This model does not support assistant message prefill. The conversation must end with a "
                          "user message."}})
    f = classify(400, {"error": {"code": 400, "message": prefill}})
    assert f.message.endswith("the conversation must end with a user message")
    echo = {"error": {"code": 400, "message": f"Something about your prompt: {CANARY}", "status": "INVALID_ARGUMENT"}}
    f = classify(400, echo)
    assert f.kind is FailureKind.BAD_REQUEST and f.message == "Upstream rejected the request (HTTP 400)"
    sneaky = {"error": {"code": 400, "message": f'Unknown name "{CANARY}" at \'request\': Cannot find field.'}}
    assert classify(400, sneaky).message == "Upstream rejected the request (HTTP 400)"


def test_canary_never_in_any_message():
    for status in (400, 401, 403, 404, 429, 500, 503):
        for obj in ({"error": {"code": status, "message": CANARY}}, CANARY.encode(),
                    {"error": {"code": status, "message": json.dumps({"error": {"message": CANARY}})}}):
            classify(status, obj)


def test_transport_failures():
    req = httpx.Request("POST", "http://x")
    assert classify_transport(httpx.ConnectError("refused", request=req)).kind is FailureKind.TRANSPORT
    assert classify_transport(httpx.ConnectTimeout("t", request=req)).kind is FailureKind.TIMEOUT
    assert classify_transport(httpx.ReadTimeout("t", request=req)).kind is FailureKind.TIMEOUT
    assert classify_transport(httpx.PoolTimeout("t", request=req)).kind is FailureKind.TIMEOUT
    f = classify_transport(httpx.RemoteProtocolError("incomplete chunked read", request=req), model="m")
    assert f.kind is FailureKind.TRANSPORT and f.model == "m" and f.status is None
    assert "10485760" in classify_transport(SSELineTooLong(10485760)).message


def test_describe_delay():
    assert [describe_delay(s) for s in (0.634, 42, 192, 581981.3)] == ["0.6s", "42s", "3m12s", "161h39m"]


# ---------------------------------------------------------------------------------------------------- durations


def test_go_durations_from_captures():
    assert parse_go_duration("634.846608ms") == pytest.approx(0.634846608)
    assert parse_go_duration("1.354703728s") == pytest.approx(1.354703728)
    assert parse_go_duration("161h39m41.300432511s") == pytest.approx(581981.300432511)
    assert parse_go_duration("0") == 0.0 and parse_go_duration("0s") == 0.0
    assert parse_go_duration("1h") == 3600 and parse_go_duration("2m3s") == 123
    assert parse_go_duration("300µs") == pytest.approx(0.0003) and parse_go_duration("5us") == pytest.approx(5e-6)
    assert parse_go_duration("1.5h30m") == pytest.approx(7200)
    for bad in ("", "5", "s", "1d", "1h 2m", "-1s", "abc", None, 5, "1e3s"):
        assert parse_go_duration(bad) is None, bad


def test_proto_durations():
    assert parse_proto_duration("0.634846608s") == pytest.approx(0.634846608)
    assert parse_proto_duration("40s") == 40.0 and parse_proto_duration("581981.300432511s") == pytest.approx(
        581981.300432511)
    for bad in ("40", "1.2345678901s", "-1s", "1m", "", None):
        assert parse_proto_duration(bad) is None, bad


def test_rfc3339():
    assert parse_rfc3339("2026-04-10T02:03:29Z") == dt.datetime(2026, 4, 10, 2, 3, 29, tzinfo=dt.UTC)
    assert parse_rfc3339("2026-08-05T02:38:57.123456789Z") == dt.datetime(2026, 8, 5, 2, 38, 57, 123456,
                                                                           tzinfo=dt.UTC)
    assert parse_rfc3339("2026-08-05T04:38:57+02:00") == dt.datetime(2026, 8, 5, 2, 38, 57, tzinfo=dt.UTC)
    assert parse_rfc3339("2016-12-31T23:59:60Z") == dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
    for bad in ("2026-04-10", "2026-13-01T00:00:00Z", "2026-04-10T02:03:29", "yesterday", None):
        assert parse_rfc3339(bad) is None, bad


def test_retry_after():
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Fri, 10 Apr 2026 02:03:38 GMT", NOW) == pytest.approx(9.634847, abs=1e-3)
    assert parse_retry_after("Fri, 10 Apr 2020 02:03:38 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None
    assert parse_retry_after("-5", NOW) is None


def _go_format(ns: int) -> str:
    """Go's Duration.String() for a non-negative number of nanoseconds (the fake formats the same way)."""
    from tests.fake_upstream.errors import go_duration
    return go_duration(ns / 1e9)


@settings(deadline=None)  # a loaded shared machine must not fail a property
@given(st.integers(min_value=0, max_value=10 * 365 * 86400 * 10**9))
def test_go_duration_round_trip(ns):
    parsed = parse_go_duration(_go_format(ns))
    assert parsed == pytest.approx(ns / 1e9, rel=1e-12, abs=1e-9)


@settings(deadline=None)  # a loaded shared machine must not fail a property
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["h", "m", "s", "ms", "us", "µs", "ns"])),
                min_size=1, max_size=5))
def test_go_duration_sums_components(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    expected = sum(n * scale[u] for n, u in parts)
    result = parse_go_duration(text)
    if expected > 10 * 365 * 86400:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@settings(deadline=None)  # a loaded shared machine must not fail a property
@given(st.integers(0, 10**6), st.integers(0, 999_999_999))
def test_proto_duration_round_trip(seconds, nanos):
    from tests.fake_upstream.errors import proto_duration
    assert parse_proto_duration(proto_duration(seconds + nanos / 1e9)) == pytest.approx(seconds + nanos / 1e9)


@settings(deadline=None)  # a loaded shared machine must not fail a property
@given(st.text(max_size=40))
def test_parsers_never_raise(text):
    parse_go_duration(text)
    parse_proto_duration(text)
    parse_rfc3339(text)
    parse_retry_after(text, NOW)
