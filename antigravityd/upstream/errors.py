"""Classify an upstream failure into the shared :class:`~antigravityd.outcomes.Failure` vocabulary.

Order of evidence, as upstream-protocol.md §4.1–§4.10 describe what works in practice:

1. ``ErrorInfo.reason`` (found by ``@type``; older bodies have it at ``details[0]`` only);
2. the HTTP status;
3. text patterns in ``error.message`` (or the raw body when it is not JSON) — TOS vs verification (§4.6),
   rate-limit vs quota (§4.10), thought-signature and prompt-too-long 400s (§4.4, §4.10).

Retry hints: ``Retry-After`` (seconds or HTTP date) → ``RetryInfo.retryDelay`` (proto Duration) →
``quotaResetDelay`` (Go duration) → durations in the message text; ``quotaResetTimeStamp`` → ``reset_at``.

``Failure.message`` is built here from the classification and a few allow-listed, structural fragments (field
paths, numbers, static upstream sentences). The upstream body itself is never copied: Google and Anthropic
error texts can quote prompt content.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from antigravityd.outcomes import Failure, FailureKind

from .durations import parse_go_duration, parse_proto_duration, parse_retry_after, parse_rfc3339
from .sse import SSEError

__all__ = ["UpstreamError", "classify_response", "classify_transport", "describe_delay"]

MAX_CLASSIFIED_BODY = 256 * 1024  # enough for any Google error; longer bodies are cut before parsing


class UpstreamError(Exception):
    """An upstream call failed; ``failure`` says how. ``str()`` is the client-safe message."""

    def __init__(self, failure: Failure, *, base_url: str | None = None) -> None:
        super().__init__(failure.message or failure.kind.value)
        self.failure = failure
        self.base_url = base_url


# ---------------------------------------------------------------------------------------------------- the body


@dataclass(frozen=True, slots=True)
class _Parsed:
    status_name: str
    message: str  # error.message, or the inner Anthropic message for Claude models
    original: str  # haystack for the allow-listed detail patterns: message + inner message (original case)
    text: str  # the same lower-cased (raw body text when not JSON), for classification patterns
    reason: str
    metadata: Mapping[str, Any]
    retry_delay: str | None
    help_urls: tuple[str, ...]
    legacy_reason: str


def _parse(body: bytes) -> _Parsed:
    body = body[:MAX_CLASSIFIED_BODY]
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raw = body.decode("utf-8", "replace")
        return _Parsed("", "", "", raw.lower(), "", {}, None, (), "")
    if isinstance(doc, list):  # the older array-wrapped form: [{"error": {...}}]
        doc = doc[0] if doc else {}
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        text = body.decode("utf-8", "replace")
        return _Parsed("", "", "", text.lower(), "", {}, None, (), "")
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    details = [d for d in error.get("details") or [] if isinstance(d, dict)] if isinstance(
        error.get("details"), list) else []
    info = next((d for d in details if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")), None)
    if info is None and details and "reason" in details[0]:
        info = details[0]
    retry = next((d for d in details if str(d.get("@type", "")).endswith("google.rpc.RetryInfo")), None)
    help_urls = tuple(
        str(link.get("url")) for d in details if str(d.get("@type", "")).endswith("google.rpc.Help")
        for link in d.get("links") or [] if isinstance(link, dict) and link.get("url")
    )
    legacy = error.get("errors")
    legacy_reason = ""
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], dict):
        legacy_reason = str(legacy[0].get("reason") or "")
    metadata = info.get("metadata") if info and isinstance(info.get("metadata"), dict) else {}
    inner = _anthropic_inner(message)
    return _Parsed(
        status_name=str(error.get("status") or ""),
        message=inner or message,
        original=f"{message}\n{inner}",
        text=f"{message}\n{inner}".lower(),
        reason=str(info.get("reason") or "") if info else "",
        metadata=metadata,
        retry_delay=retry.get("retryDelay") if retry else None,
        help_urls=help_urls,
        legacy_reason=legacy_reason,
    )


def _anthropic_inner(message: str) -> str:
    """Claude errors carry the Anthropic error JSON as a string in error.message (§4.4)."""
    if not message.startswith("{"):
        return ""
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError:
        return ""
    inner = doc.get("error") if isinstance(doc, dict) else None
    return str(inner.get("message") or "") if isinstance(inner, dict) else ""


# ---------------------------------------------------------------------------------------------------- patterns

_REASONS: dict[str, FailureKind] = {
    "RATE_LIMIT_EXCEEDED": FailureKind.RATE_LIMITED,
    "QUOTA_EXHAUSTED": FailureKind.QUOTA_EXHAUSTED,
    "INSUFFICIENT_G1_CREDITS_BALANCE": FailureKind.QUOTA_EXHAUSTED,
    "MODEL_CAPACITY_EXHAUSTED": FailureKind.CAPACITY,
    "VALIDATION_REQUIRED": FailureKind.VERIFICATION_REQUIRED,
    "CONSUMER_INVALID": FailureKind.VERIFICATION_REQUIRED,
    "SERVICE_DISABLED": FailureKind.VERIFICATION_REQUIRED,
    "TOS_VIOLATION": FailureKind.TOS_BANNED,
    "USER_DISABLED": FailureKind.TOS_BANNED,
    "ABUSE_DETECTED": FailureKind.TOS_BANNED,
    "ACCESS_TOKEN_EXPIRED": FailureKind.UNAUTHENTICATED,
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": FailureKind.UNAUTHENTICATED,
    "CREDENTIALS_MISSING": FailureKind.UNAUTHENTICATED,
    "SECURITY_POLICY_VIOLATED": FailureKind.FORBIDDEN,
}

_TOS = ("violation of terms of service", "terms of service violation", "access to gemini code assist is suspended",
        "has been disabled in this account", "user_disabled", "account has been suspended", "account is disabled",
        "account has been disabled", "tos_violation", "abuse_detected")
_VERIFY = ("verify your account", "validation_required", "consumer_invalid", "service_disabled",
           "permission denied on resource project", "validation_url")
_RATE = ("per minute", "rate limit", "rate_limit", "ratelimit", "too many requests", "throttl")
_QUOTA = ("quota_exhausted", "quota exhausted", "individual quota", "quota reached")
_CAPACITY = ("no capacity available", "model_capacity_exhausted", "capacity exhausted", "overloaded")
_SIGNATURE = ("thought_signature", "thought signature", "invalid `signature`", "invalid signature",
              "thinking.signature", "thinking.thinking", "failed to deserialise",
              "expected `thinking` or `redacted_thinking`", "must start with a thinking block", "found `text`")
_TOO_LONG = ("prompt is too long", "exceeds the maximum number of tokens", "input token count",
             "maximum context length", "context window", "too many tokens")
_LONG_WINDOW = 300.0  # a rate limit that asks for ≥ 5 minutes is a quota in all but name (§4.10, [C])


def _any(text: str, needles: tuple[str, ...]) -> bool:
    return any(n in text for n in needles)


def _kind(status: int, p: _Parsed, delay: float | None) -> FailureKind:
    if (kind := _REASONS.get(p.reason)) is not None:
        return kind
    text = p.text
    if status == 401:
        return FailureKind.UNAUTHENTICATED
    if status == 403:
        if _any(text, _TOS):
            return FailureKind.TOS_BANNED
        if _any(text, _VERIFY):
            return FailureKind.VERIFICATION_REQUIRED
        return FailureKind.FORBIDDEN
    if status == 404:
        return FailureKind.NOT_FOUND
    if status == 408:
        return FailureKind.TIMEOUT
    if status == 429:
        if _any(text, _CAPACITY):
            return FailureKind.CAPACITY
        if _any(text, _QUOTA) or ("exhausted your capacity" in text and delay is not None and delay >= _LONG_WINDOW):
            return FailureKind.QUOTA_EXHAUSTED
        if _any(text, _RATE) or "exhausted your capacity" in text or p.legacy_reason == "rateLimitExceeded":
            return FailureKind.RATE_LIMITED
        return FailureKind.RESOURCE_EXHAUSTED
    if status >= 500 or status < 400:
        return FailureKind.CAPACITY if status >= 500 and _any(text, _CAPACITY) else FailureKind.SERVER_ERROR
    if status == 413 or _any(text, _TOO_LONG):
        return FailureKind.PROMPT_TOO_LONG
    if _any(text, _SIGNATURE):
        return FailureKind.SIGNATURE_INVALID
    return FailureKind.BAD_REQUEST


# ---------------------------------------------------------------------------------------------------- delays

_TEXT_DELAYS = tuple(re.compile(p, re.ASCII) for p in (
    r"reset(?:s)? (?:after|in) ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)",
    r"(?:try again|retry) (?:in|after) ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)",
    r"(?:retry after|try again in|wait) (\d+(?:\.\d+)?) ?seconds?",
    r"\(wait (\d+)s\)",
))


def _delay_from_text(text: str) -> float | None:
    for pattern in _TEXT_DELAYS:
        if (match := pattern.search(text)) is not None:
            value = match.group(1)
            return float(value) if value.replace(".", "", 1).isdigit() else parse_go_duration(value)
    return None


def _retry_delay(headers: Mapping[str, str], p: _Parsed, now: float, reset_at: float | None) -> float | None:
    for candidate in (
        parse_retry_after(headers.get("retry-after"), now),
        parse_proto_duration(p.retry_delay),
        parse_go_duration(p.metadata.get("quotaResetDelay")),
        None if reset_at is None else max(0.0, reset_at - now),
    ):
        if candidate is not None:
            return candidate
    return _delay_from_text(p.text)


# ---------------------------------------------------------------------------------------------------- messages

_IDENT = r"[A-Za-z0-9_$\-.:]{1,64}"
_PATH = r"[A-Za-z0-9_.\[\]]{0,160}"
_SAFE_400_SOURCES = (
    (rf"unknown name \"({_IDENT})\" at '({_PATH})': proto field is not repeating",
     'field "{1}" at \'{2}\' must not be a list'),
    (rf"unknown name \"({_IDENT})\" at '({_PATH})': cannot find field", 'unknown field "{1}" at \'{2}\''),
    (rf"invalid value at '({_PATH})'", "invalid value at '{1}'"),
    (r"maxoutputtokens value of (\d+) but the supported range is from 1 \(inclusive\) to (\d+)",
     "maxOutputTokens {1} is outside the supported range (1 to {2} exclusive)"),
    (r"please ensure that function call turn comes immediately after a user turn",
     "a function-call turn must follow a user turn or a function-response turn"),
    (r"number of function response parts is equal to the number of function call parts",
     "the number of function responses must equal the number of function calls of the previous turn"),
    (r"multiple tools are supported only when they are all search tools",
     "built-in search tools cannot be combined with function declarations"),
    (r"please use a valid role", "content roles must be user or model"),
    (r"does not support assistant message prefill",
     "this model does not support assistant prefill; the conversation must end with a user message"),
    (r"`tool_use` ids were found without `tool_result` blocks",
     "a tool_use block has no matching tool_result in the next message"),
    (r"unexpected `tool_use_id` found in `tool_result` blocks",
     "a tool_result block has no matching tool_use in the previous message"),
    (r"`max_tokens` must be greater than `thinking.budget_tokens`",
     "max_tokens must be greater than the thinking budget"),
    (r"budget_tokens: input should be greater than or equal to (\d+)", "the thinking budget must be at least {1}"),
    (r"text content blocks must be non-empty", "text content blocks must be non-empty"),
    (r"stop sequences", "too many stop sequences (at most 5)"),
    (r"thinking_level is not supported", "thinking level is not supported by this model"),
)
_SAFE_400 = tuple((re.compile(pattern, re.IGNORECASE), template) for pattern, template in _SAFE_400_SOURCES)
_TOO_LONG_NUMBERS = (
    re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum"),
    re.compile(r"input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)"),
)


def describe_delay(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _safe_detail(text: str) -> str:
    details = []
    for pattern, template in _SAFE_400:
        for match in pattern.finditer(text):  # patterns are compiled with re.IGNORECASE
            details.append(template.format(*([match.group(0), *match.groups()])))
            if len(details) >= 3:
                return "; ".join(details)
    return "; ".join(dict.fromkeys(details))


def _message(kind: FailureKind, status: int | None, p: _Parsed, model: str | None, delay: float | None) -> str:
    on_model = f" for model {model}" if model else ""
    wait = f"; retry after {describe_delay(delay)}" if delay is not None else ""
    if kind is FailureKind.RATE_LIMITED:
        return f"Upstream rate limit reached{on_model}{wait}"
    if kind is FailureKind.QUOTA_EXHAUSTED:
        return f"Upstream quota exhausted{on_model}" + (f"; resets in {describe_delay(delay)}" if delay else "")
    if kind is FailureKind.CAPACITY:
        return f"No upstream capacity{on_model} right now{wait}"
    if kind is FailureKind.RESOURCE_EXHAUSTED:
        return "Upstream resources temporarily exhausted (HTTP 429)"
    if kind is FailureKind.UNAUTHENTICATED:
        return "Upstream rejected the account's access token (HTTP 401)"
    if kind is FailureKind.VERIFICATION_REQUIRED:
        return "The Google account must be verified before it can be used again (HTTP 403)"
    if kind is FailureKind.TOS_BANNED:
        return "The Google account was disabled upstream for a Terms of Service violation (HTTP 403)"
    if kind is FailureKind.FORBIDDEN:
        return "Upstream denied access (HTTP 403)"
    if kind is FailureKind.NOT_FOUND:
        return f"Model {model} is not available upstream for this account" if model else \
            "Upstream resource not found (HTTP 404)"
    if kind is FailureKind.TIMEOUT:
        return f"Upstream timed out (HTTP {status})" if status else "Upstream timed out"
    if kind is FailureKind.PROMPT_TOO_LONG:
        for pattern in _TOO_LONG_NUMBERS:
            if (match := pattern.search(p.text)) is not None:
                return f"Prompt is too long ({match.group(1)} tokens > {match.group(2)} maximum)"
        return "Prompt is too long (upstream context limit reached)"
    if kind is FailureKind.SIGNATURE_INVALID:
        if "missing a thought_signature" in p.text:
            return "Upstream rejected the request: a function call is missing its thought signature"
        if "expected `thinking`" in p.text or "must start with a thinking block" in p.text:
            return "Upstream rejected the request: the last assistant turn must start with a signed thinking block"
        return "Upstream rejected a thought signature in the conversation history"
    if kind is FailureKind.BAD_REQUEST:
        detail = _safe_detail(p.original)
        return f"Upstream rejected the request (HTTP {status})" + (f": {detail}" if detail else "")
    return f"Upstream server error (HTTP {status})"


def _detail_url(kind: FailureKind, p: _Parsed) -> str | None:
    if kind not in (FailureKind.VERIFICATION_REQUIRED, FailureKind.TOS_BANNED, FailureKind.FORBIDDEN):
        return None
    for key in ("validation_url", "appeal_url", "activationUrl"):
        value = p.metadata.get(key)
        if isinstance(value, str) and value.startswith("https://"):
            return value
    for url in p.help_urls:
        if url.startswith("https://"):
            return url
    match = re.search(r"https://accounts\.google\.com/\S+", p.message)
    return match.group(0).rstrip(".,)") if match else None


# ---------------------------------------------------------------------------------------------------- API


def classify_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    model: str | None = None,
    now: float | None = None,
) -> Failure:
    """Classify a non-200 upstream answer. ``headers`` is case-insensitive if it is an ``httpx.Headers``;
    plain mappings must use lower-case names. ``now`` (epoch seconds) is injectable for tests."""
    now = time.time() if now is None else now
    parsed = _parse(body)
    reset_at = parse_rfc3339(parsed.metadata.get("quotaResetTimeStamp"))
    reset_epoch = reset_at.timestamp() if reset_at is not None else None
    delay = _retry_delay(headers or {}, parsed, now, reset_epoch)
    kind = _kind(status, parsed, delay)
    meta_model = parsed.metadata.get("model")
    model = meta_model if isinstance(meta_model, str) and re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", meta_model) \
        else model
    return Failure(
        kind=kind,
        status=status,
        reason=parsed.reason or parsed.status_name,
        message=_message(kind, status, parsed, model, delay),
        retry_after=delay,
        reset_at=reset_epoch,
        model=model,
        detail_url=_detail_url(kind, parsed),
    )


def classify_transport(exc: BaseException, *, model: str | None = None) -> Failure:
    """A failure below HTTP: connect/read errors, resets, timeouts, or a malformed event stream."""
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure(FailureKind.TIMEOUT, message="Timed out connecting upstream", model=model)
    if isinstance(exc, httpx.PoolTimeout):
        return Failure(FailureKind.TIMEOUT, message="No free upstream connection in time", model=model)
    if isinstance(exc, httpx.TimeoutException):
        return Failure(FailureKind.TIMEOUT, message="Upstream stopped sending data (read timeout)", model=model)
    if isinstance(exc, httpx.ConnectError):
        return Failure(FailureKind.TRANSPORT, message="Could not connect upstream", model=model)
    if isinstance(exc, SSEError):
        return Failure(FailureKind.TRANSPORT, message=f"Malformed upstream event stream: {exc}", model=model)
    if isinstance(exc, httpx.RemoteProtocolError):
        return Failure(FailureKind.TRANSPORT, message="Upstream closed the connection unexpectedly", model=model)
    return Failure(FailureKind.TRANSPORT, message="Upstream connection failed", model=model)
