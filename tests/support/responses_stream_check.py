"""A validator for OpenAI Responses API stream events, written from OpenAI's public streaming reference.

``check_responses_stream(events)`` raises AssertionError at the first violation and returns the terminal
``response`` object with ``output`` replaced by what a client would have assembled from the deltas:

* ``sequence_number`` counts 0, 1, 2 … without gaps; every event has a ``type``;
* ``response.created`` then ``response.in_progress`` first; exactly one terminal event (``response.completed``,
  ``response.incomplete`` or ``response.failed``), last;
* output items one at a time: ``response.output_item.added`` with the next ``output_index``; every later event of
  that item names its ``item_id`` and ``output_index``; the item ends with ``response.output_item.done`` (same id);
* messages: ``content_part.added`` before ``output_text.delta``; ``output_text.done.text`` equals the deltas;
  reasoning: ``reasoning_summary_part.added`` before ``reasoning_summary_text.delta``, ``…text.done`` equals them;
  function calls: ``function_call_arguments.done.arguments`` equals the deltas and parses to an object;
* the terminal response's ``output`` equals the items as assembled, and carries integer ``usage``.
"""

from __future__ import annotations

import json
from typing import Any

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def check_responses_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) >= 3, "too few events"
    for n, event in enumerate(events):
        assert event.get("sequence_number") == n, f"event {n}: sequence_number {event.get('sequence_number')}"
        assert isinstance(event.get("type"), str), f"event {n}: no type"
    assert events[0]["type"] == "response.created", "first event must be response.created"
    assert events[1]["type"] == "response.in_progress", "second event must be response.in_progress"
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[-1]["type"] in TERMINAL, f"last event is {events[-1]['type']}"
    items: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    buffer: list[str] = []
    part_open = False
    for n, event in enumerate(events[2:-1], start=2):
        kind = event["type"]
        where = f"event {n} ({kind})"
        assert kind not in TERMINAL, f"{where}: terminal event before the end"
        if kind == "response.output_item.added":
            assert current is None, f"{where}: item {current and current['id']} still open"
            assert event["output_index"] == len(items), f"{where}: output_index {event['output_index']}"
            current = dict(event["item"])
            assert current.get("id") and current.get("type") in ("message", "reasoning", "function_call"), where
            buffer, part_open = [], False
            continue
        assert current is not None, f"{where}: no open item"
        if "item_id" in event:
            assert event["item_id"] == current["id"], f"{where}: item_id"
        assert event.get("output_index") == len(items), f"{where}: output_index"
        if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
            assert not part_open, f"{where}: part opened twice"
            part_open = True
        elif kind in ("response.output_text.delta", "response.reasoning_summary_text.delta",
                      "response.function_call_arguments.delta"):
            assert part_open or kind == "response.function_call_arguments.delta", f"{where}: delta before its part"
            assert isinstance(event["delta"], str), f"{where}: delta"
            buffer.append(event["delta"])
        elif kind in ("response.output_text.done", "response.reasoning_summary_text.done"):
            assert event["text"] == "".join(buffer), f"{where}: done text differs from the deltas"
        elif kind == "response.function_call_arguments.done":
            assert event["arguments"] == "".join(buffer), f"{where}: arguments differ from the deltas"
            assert isinstance(json.loads(event["arguments"] or "{}"), dict), f"{where}: arguments not an object"
        elif kind in ("response.content_part.done", "response.reasoning_summary_part.done"):
            assert part_open, f"{where}: part closed twice"
            part_open = False
        elif kind == "response.output_item.done":
            done = event["item"]
            assert done["id"] == current["id"] and done["type"] == current["type"], f"{where}: another item"
            if done["type"] == "message":
                assert "".join(c["text"] for c in done["content"]) == "".join(buffer), f"{where}: message text"
            elif done["type"] == "reasoning":
                assert "".join(s["text"] for s in done["summary"]) == "".join(buffer), f"{where}: summary"
            else:
                assert done["arguments"] == "".join(buffer), f"{where}: arguments"
            items.append(done)
            current = None
        else:
            raise AssertionError(f"{where}: unexpected event type")
    assert current is None, "an item is still open at the end"
    final = events[-1]["response"]
    assert final["output"] == items, "the final output differs from the streamed items"
    usage = final.get("usage") or {}
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert isinstance(usage.get(key), int), f"usage.{key}"
    status = {"response.completed": "completed", "response.incomplete": "incomplete",
              "response.failed": "failed"}[events[-1]["type"]]
    assert final["status"] == status, "terminal status"
    return final
