"""Checks an OpenAI Responses API event stream against the public streaming reference and rebuilds the response.

Rules (OpenAI "Streaming events" reference): every event has ``type`` and a ``sequence_number`` counting up from 0
by one; the stream opens with ``response.created`` (status ``in_progress``), may repeat ``response.in_progress``,
and ends with exactly one of ``response.completed`` / ``response.incomplete`` / ``response.failed`` (or an
``error`` event) carrying the final response. Output items are announced by ``response.output_item.added`` with
``output_index`` 0, 1, 2 … in order, one open at a time here (our translator never interleaves items); their
deltas refer to the open item's id and index; ``response.output_item.done`` closes the item with its full content,
and the final response's ``output`` equals the list of done items. Text and argument deltas concatenate to their
``.done`` values.

:func:`check_responses_stream` raises ``AssertionError`` on the first violation and returns the final response.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.sse_parse import parse_sse

__all__ = ["check_response_object", "check_responses_stream"]

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
ITEM_DELTAS = {
    "reasoning": {"response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                  "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"},
    "message": {"response.content_part.added", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done", "response.refusal.delta", "response.refusal.done"},
    "function_call": {"response.function_call_arguments.delta", "response.function_call_arguments.done"},
    "custom_tool_call": {"response.custom_tool_call_input.delta", "response.custom_tool_call_input.done"},
}


def check_response_object(response: Any, *, final: bool = True) -> dict[str, Any]:
    assert isinstance(response, dict) and response.get("object") == "response", "object must be 'response'"
    assert isinstance(response.get("id"), str) and response["id"], "response.id"
    assert isinstance(response.get("created_at"), int | float), "response.created_at"
    assert isinstance(response.get("model"), str), "response.model"
    assert isinstance(response.get("output"), list), "response.output"
    if final:
        assert response.get("status") in ("completed", "incomplete", "failed"), f"status {response.get('status')}"
        usage = response.get("usage")
        assert isinstance(usage, dict), "a final response has usage"
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            assert isinstance(usage.get(key), int) and usage[key] >= 0, f"usage.{key}"
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"], "usage totals"
        if response["status"] == "incomplete":
            assert isinstance(response.get("incomplete_details"), dict), "incomplete_details"
        for i, item in enumerate(response["output"]):
            _check_item(item, f"output[{i}]")
    return response


def _check_item(item: Any, where: str) -> None:
    assert isinstance(item, dict) and isinstance(item.get("id"), str), f"{where}: item id"
    kind = item.get("type")
    if kind == "message":
        assert item.get("role") == "assistant" and isinstance(item.get("content"), list), f"{where}: message"
        for part in item["content"]:
            assert part.get("type") in ("output_text", "refusal"), f"{where}: content part type"
    elif kind == "function_call":
        assert isinstance(item.get("call_id"), str) and item["call_id"] and isinstance(item.get("name"), str)
        assert isinstance(json.loads(item["arguments"] or "{}"), dict), f"{where}: arguments must be a JSON object"
    elif kind == "custom_tool_call":
        assert isinstance(item.get("call_id"), str) and isinstance(item.get("input"), str), f"{where}: custom call"
    elif kind == "reasoning":
        assert isinstance(item.get("summary"), list), f"{where}: reasoning summary"
    else:
        raise AssertionError(f"{where}: unexpected item type {kind!r}")


def check_responses_stream(events: list[tuple[str | None, Any]] | bytes | str, *,
                           allow_error: bool = False) -> dict[str, Any]:
    if isinstance(events, bytes | str):
        events = parse_sse(events)
    assert events, "empty stream"
    done_items: list[dict[str, Any]] = []
    open_item: dict[str, Any] | None = None
    texts: dict[str, list[str]] = {}
    final: dict[str, Any] | None = None
    for n, (name, data) in enumerate(events):
        where = f"event {n} ({name})"
        assert isinstance(data, dict) and isinstance(data.get("type"), str), f"{where}: needs a type"
        kind = data["type"]
        assert name is None or name == kind, f"{where}: SSE event name differs from type {kind!r}"
        assert data.get("sequence_number") == n, f"{where}: sequence_number {data.get('sequence_number')} ≠ {n}"
        assert final is None, f"{where}: event after the terminal event"
        if n == 0:
            assert kind == "response.created", f"{where}: the first event must be response.created"
            check_response_object(data["response"], final=False)
            assert data["response"]["status"] == "in_progress" and data["response"]["output"] == []
            continue
        if kind == "error":
            assert allow_error, f"{where}: error event {data}"
            assert isinstance(data.get("message"), str), f"{where}: error message"
            assert n == len(events) - 1, f"{where}: events after an error"
            return {}
        if kind == "response.in_progress":
            assert not done_items and open_item is None, f"{where}: in_progress after output started"
            continue
        if kind == "response.output_item.added":
            assert open_item is None, f"{where}: item {open_item and open_item['id']} still open"
            assert data.get("output_index") == len(done_items), f"{where}: output_index"
            open_item = data["item"]
            assert open_item.get("type") in ITEM_DELTAS, f"{where}: item type"
            texts = {}
            continue
        if kind == "response.output_item.done":
            assert open_item is not None and data["item"]["id"] == open_item["id"], f"{where}: done of no open item"
            assert data.get("output_index") == len(done_items), f"{where}: output_index"
            item = data["item"]
            _check_item(item, where)
            if item["type"] == "message":
                assert item["content"][0]["text"] == "".join(texts.get("text", [])), f"{where}: text ≠ deltas"
            if item["type"] == "function_call":
                assert item["arguments"] == "".join(texts.get("arguments", [])), f"{where}: arguments ≠ deltas"
            if item["type"] == "reasoning" and item["summary"]:
                assert item["summary"][0]["text"] == "".join(texts.get("summary", [])), f"{where}: summary"
            done_items.append(item)
            open_item = None
            continue
        if kind in TERMINAL:
            assert open_item is None, f"{where}: terminal event with item {open_item and open_item['id']} open"
            final = check_response_object(data["response"])
            assert final["output"] == done_items, f"{where}: output ≠ the items streamed"
            status = {"response.completed": "completed", "response.incomplete": "incomplete",
                      "response.failed": "failed"}[kind]
            assert final["status"] == status, f"{where}: status {final['status']}"
            continue
        assert open_item is not None, f"{where}: {kind} outside an output item"
        assert kind in ITEM_DELTAS[open_item["type"]], f"{where}: {kind} inside a {open_item['type']} item"
        assert data.get("item_id") == open_item["id"], f"{where}: item_id"
        assert data.get("output_index") == len(done_items), f"{where}: output_index"
        if kind == "response.output_text.delta":
            texts.setdefault("text", []).append(data["delta"])
        elif kind == "response.output_text.done":
            assert data["text"] == "".join(texts.get("text", [])), f"{where}: text ≠ deltas"
        elif kind == "response.function_call_arguments.delta":
            texts.setdefault("arguments", []).append(data["delta"])
        elif kind == "response.function_call_arguments.done":
            assert data["arguments"] == "".join(texts.get("arguments", [])), f"{where}: arguments ≠ deltas"
        elif kind == "response.reasoning_summary_text.delta":
            texts.setdefault("summary", []).append(data["delta"])
        elif kind == "response.reasoning_summary_text.done":
            assert data["text"] == "".join(texts.get("summary", [])), f"{where}: summary ≠ deltas"
        elif kind == "response.custom_tool_call_input.delta":
            texts.setdefault("input", []).append(data["delta"])
        elif kind == "response.custom_tool_call_input.done":
            assert data["input"] == "".join(texts.get("input", [])), f"{where}: input ≠ deltas"
    assert final is not None, "the stream ended without response.completed/incomplete"
    return final
