"""A validator for Anthropic Messages stream events, written from Anthropic's public streaming documentation.

``check_messages_stream(events)`` takes the parsed ``data`` objects in order (their ``type`` is the SSE event
name) and raises AssertionError at the first violation:

* ``message_start`` first and once, with a ``message`` whose ``content`` is empty and ``stop_reason`` null;
* ``ping`` anywhere after ``message_start``;
* content blocks strictly sequential: ``content_block_start`` with the next index (0, 1, 2 …) only when no block is
  open; deltas only for the open block and of its kind (``text_delta`` for text, ``thinking_delta`` /
  ``signature_delta`` for thinking, ``input_json_delta`` for tool_use); ``content_block_stop`` for the open index;
  the assembled ``partial_json`` of a tool_use block parses to an object;
* ``message_delta`` exactly once, after every block closed, with a valid ``stop_reason`` and integer
  ``usage.output_tokens``; ``message_stop`` last.
* an ``error`` event may end the stream early (then nothing follows it).

Returns the assembled message (content blocks as a client would build them).
"""

from __future__ import annotations

import json
from typing import Any

STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"})
DELTAS = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"}, "tool_use": {"input_json_delta"}}


def check_messages_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events, "an empty stream"
    assert events[0].get("type") == "message_start", f"first event is {events[0].get('type')!r}"
    message = dict(events[0]["message"])
    assert message.get("type") == "message" and message.get("role") == "assistant", "message_start.message"
    assert message.get("content") == [] and message.get("stop_reason") is None, "message_start content/stop"
    assert isinstance(message.get("id"), str) and message["id"], "message id"
    content: list[dict[str, Any]] = []
    json_parts: dict[int, list[str]] = {}
    open_index: int | None = None
    delta_seen = False
    stopped = False
    for n, event in enumerate(events[1:], start=1):
        where = f"event {n} ({event.get('type')})"
        assert not stopped, f"{where}: after message_stop"
        kind = event.get("type")
        if kind == "ping":
            continue
        if kind == "error":
            assert n == len(events) - 1, f"{where}: events after an error"
            assert isinstance(event.get("error"), dict) and event["error"].get("type"), f"{where}: error shape"
            message["error"] = event["error"]
            return message
        if kind == "content_block_start":
            assert not delta_seen, f"{where}: a block after message_delta"
            assert open_index is None, f"{where}: block {open_index} still open"
            assert event.get("index") == len(content), f"{where}: index {event.get('index')} != {len(content)}"
            block = dict(event["content_block"])
            assert block.get("type") in DELTAS, f"{where}: block type {block.get('type')!r}"
            if block["type"] == "tool_use":
                assert block.get("id") and block.get("name") and block.get("input") == {}, f"{where}: tool_use"
                json_parts[len(content)] = []
            content.append(block)
            open_index = event["index"]
        elif kind == "content_block_delta":
            assert open_index is not None and event.get("index") == open_index, f"{where}: delta for a closed block"
            block = content[open_index]
            delta = event.get("delta") or {}
            assert delta.get("type") in DELTAS[block["type"]], f"{where}: {delta.get('type')} in a {block['type']}"
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                assert isinstance(delta.get("signature"), str) and delta["signature"], f"{where}: empty signature"
                block["signature"] = delta["signature"]
            else:
                json_parts[open_index].append(delta["partial_json"])
        elif kind == "content_block_stop":
            assert open_index is not None and event.get("index") == open_index, f"{where}: stop for a closed block"
            if content[open_index]["type"] == "tool_use":
                raw = "".join(json_parts[open_index]) or "{}"
                parsed = json.loads(raw)
                assert isinstance(parsed, dict), f"{where}: tool input is not an object"
                content[open_index]["input"] = parsed
            open_index = None
        elif kind == "message_delta":
            assert open_index is None, f"{where}: block {open_index} still open"
            assert not delta_seen, f"{where}: message_delta twice"
            delta_seen = True
            reason = event.get("delta", {}).get("stop_reason")
            assert reason in STOP_REASONS, f"{where}: stop_reason {reason!r}"
            usage = event.get("usage") or {}
            assert isinstance(usage.get("output_tokens"), int), f"{where}: usage.output_tokens"
            message["stop_reason"] = reason
            message["stop_sequence"] = event["delta"].get("stop_sequence")
            message["usage"] = {**message.get("usage", {}), **usage}
        elif kind == "message_stop":
            assert delta_seen, f"{where}: message_stop without message_delta"
            stopped = True
        else:
            raise AssertionError(f"{where}: unknown event type")
    assert stopped, "no message_stop"
    message["content"] = content
    return message
