"""Checks an Anthropic Messages event stream against the public API's streaming rules and rebuilds the message.

Written from Anthropic's "Streaming Messages" documentation: a stream is ``message_start``, then for each content
block ``content_block_start`` / ``content_block_delta``\\* / ``content_block_stop`` with indices 0, 1, 2 …, then
``message_delta`` (``stop_reason`` and cumulative ``usage``) and ``message_stop``. ``ping`` events may appear
anywhere; an ``error`` event ends a stream that could not be finished. Each SSE ``event:`` name equals the
payload's ``type``.

:func:`check_anthropic_stream` raises ``AssertionError`` naming the first violation and returns the message the
events describe (the same object a non-streaming call returns), for assertions on content.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.sse_parse import parse_sse

__all__ = ["check_anthropic_message", "check_anthropic_stream", "parse_sse"]

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
DELTA_FOR = {"text": {"text_delta", "citations_delta"}, "thinking": {"thinking_delta", "signature_delta"},
             "tool_use": {"input_json_delta"}, "server_tool_use": {"input_json_delta"}, "redacted_thinking": set()}


def _usage(usage: Any, where: str) -> None:
    assert isinstance(usage, dict), f"{where}: usage must be an object"
    for key in ("input_tokens", "output_tokens"):
        if key in usage or where.startswith("message_start"):
            value = usage.get(key)
            assert isinstance(value, int) and value >= 0, f"{where}: usage.{key} must be a non-negative int"


def check_anthropic_message(message: Any) -> dict[str, Any]:
    """A complete (non-streaming) message object."""
    assert isinstance(message, dict), "message must be an object"
    assert message.get("type") == "message" and message.get("role") == "assistant", "type message, role assistant"
    assert isinstance(message.get("id"), str) and message["id"], "message.id"
    assert isinstance(message.get("model"), str), "message.model"
    assert message.get("stop_reason") in STOP_REASONS, f"stop_reason {message.get('stop_reason')!r}"
    assert isinstance(message.get("content"), list), "content must be a list"
    tool_uses = 0
    for i, block in enumerate(message["content"]):
        kind = block.get("type")
        if kind == "text":
            assert isinstance(block.get("text"), str), f"content[{i}].text"
        elif kind == "thinking":
            assert isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str), \
                f"content[{i}] thinking needs thinking and signature strings"
        elif kind == "tool_use":
            tool_uses += 1
            assert isinstance(block.get("id"), str) and block["id"], f"content[{i}].id"
            assert isinstance(block.get("name"), str) and block["name"], f"content[{i}].name"
            assert isinstance(block.get("input"), dict), f"content[{i}].input must be an object"
        else:
            raise AssertionError(f"content[{i}] has an unexpected type {kind!r}")
    if message["stop_reason"] == "tool_use":
        assert tool_uses, "stop_reason tool_use without a tool_use block"
    assert (message["stop_reason"] == "stop_sequence") == isinstance(message.get("stop_sequence"), str), \
        "stop_sequence is set exactly when stop_reason is stop_sequence"
    _usage(message.get("usage"), "message")
    return message


def check_anthropic_stream(events: list[tuple[str | None, Any]] | bytes | str, *,
                           allow_error: bool = False) -> dict[str, Any]:
    """Validate a parsed (or raw) event stream; return the rebuilt message. With ``allow_error`` a stream may end
    with an ``error`` event instead of ``message_stop`` (the message is then returned as far as it got)."""
    if isinstance(events, bytes | str):
        events = parse_sse(events)
    assert events, "empty stream"
    message: dict[str, Any] | None = None
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    json_parts: list[str] = []
    signature_seen = False
    delta_seen = False
    stopped = False
    for n, (name, data) in enumerate(events):
        where = f"event {n} ({name})"
        assert isinstance(data, dict) and isinstance(data.get("type"), str), f"{where}: data must have a type"
        kind = data["type"]
        assert name is None or name == kind, f"{where}: SSE event name {name!r} differs from type {kind!r}"
        assert not stopped, f"{where}: event after message_stop"
        if kind == "ping":
            continue
        if kind == "error":
            assert allow_error, f"{where}: error event: {data}"
            assert isinstance(data.get("error"), dict) and isinstance(data["error"].get("type"), str), \
                f"{where}: error.type"
            assert n == len(events) - 1, f"{where}: events after an error"
            return message or {}
        if message is None:
            assert kind == "message_start", f"{where}: the first event must be message_start"
            start = data.get("message")
            assert isinstance(start, dict) and start.get("type") == "message" and start.get("role") == "assistant"
            assert start.get("content") == [], f"{where}: message_start content must be empty"
            assert start.get("stop_reason") is None, f"{where}: message_start stop_reason must be null"
            assert isinstance(start.get("id"), str) and start["id"] and isinstance(start.get("model"), str)
            _usage(start.get("usage"), "message_start")
            message = {**start, "content": blocks}
            continue
        assert kind != "message_start", f"{where}: a second message_start"
        if kind == "content_block_start":
            assert open_index is None, f"{where}: block {open_index} still open"
            assert data.get("index") == len(blocks), f"{where}: index {data.get('index')} ≠ {len(blocks)}"
            block = data.get("content_block")
            assert isinstance(block, dict) and block.get("type") in DELTA_FOR, f"{where}: content_block type"
            if block["type"] == "text":
                assert block.get("text") == "", f"{where}: a text block starts empty"
            if block["type"] == "thinking":
                assert block.get("thinking") == "", f"{where}: a thinking block starts empty"
            if block["type"] == "tool_use":
                assert isinstance(block.get("id"), str) and block["id"] and isinstance(block.get("name"), str)
                assert block.get("input") == {}, f"{where}: tool_use input starts as {{}}"
            blocks.append(dict(block))
            open_index = data["index"]
            json_parts, signature_seen, delta_seen = [], False, False
        elif kind == "content_block_delta":
            assert open_index is not None and data.get("index") == open_index, f"{where}: delta outside its block"
            delta = data.get("delta")
            block = blocks[open_index]
            assert isinstance(delta, dict) and delta.get("type") in DELTA_FOR[block["type"]], \
                f"{where}: {delta!r} in a {block['type']} block"
            assert not signature_seen, f"{where}: delta after the signature"
            dtype = delta["type"]
            if dtype == "text_delta":
                assert isinstance(delta.get("text"), str)
                block["text"] += delta["text"]
            elif dtype == "thinking_delta":
                assert isinstance(delta.get("thinking"), str)
                block["thinking"] += delta["thinking"]
            elif dtype == "signature_delta":
                assert isinstance(delta.get("signature"), str) and delta["signature"], f"{where}: empty signature"
                block["signature"] = delta["signature"]
                signature_seen = True
            elif dtype == "input_json_delta":
                assert isinstance(delta.get("partial_json"), str)
                json_parts.append(delta["partial_json"])
            delta_seen = True
        elif kind == "content_block_stop":
            assert open_index is not None and data.get("index") == open_index, f"{where}: stop of a closed block"
            block = blocks[open_index]
            if block["type"] in ("tool_use", "server_tool_use"):
                raw = "".join(json_parts)
                parsed = json.loads(raw) if raw else {}
                assert isinstance(parsed, dict), f"{where}: tool input must be a JSON object"
                block["input"] = parsed
            if block["type"] == "thinking":
                block.setdefault("signature", "")
            assert delta_seen or block["type"] in ("thinking", "redacted_thinking", "text"), \
                f"{where}: tool_use block without input"
            open_index = None
        elif kind == "message_delta":
            assert open_index is None, f"{where}: message_delta while block {open_index} is open"
            delta = data.get("delta")
            assert isinstance(delta, dict) and delta.get("stop_reason") in STOP_REASONS, f"{where}: stop_reason"
            _usage(data.get("usage"), where)
            assert isinstance(data["usage"].get("output_tokens"), int), f"{where}: usage.output_tokens"
            message["stop_reason"] = delta["stop_reason"]
            message["stop_sequence"] = delta.get("stop_sequence")
            message["usage"] = {**message.get("usage", {}), **data["usage"]}
        elif kind == "message_stop":
            assert "stop_reason" in message and message["stop_reason"] is not None, \
                f"{where}: message_stop before message_delta"
            stopped = True
        else:
            raise AssertionError(f"{where}: unknown event type {kind!r}")
    assert stopped or allow_error, "the stream ended without message_stop"
    assert message is not None
    return check_anthropic_message(message) if stopped else message
