"""A validator for OpenAI ``chat.completion.chunk`` sequences, written from OpenAI's public API reference.

``check_chat_stream(chunks, include_usage=...)`` raises AssertionError at the first rule a client could trip over
and otherwise returns what a client would have assembled:

* every chunk is a ``chat.completion.chunk`` with the same ``id``, ``created`` and ``model``;
* each choice's first delta carries ``role: "assistant"``, and no later delta carries a role;
* tool-call deltas: a new call starts at the next ``index`` (0, 1, 2 … per choice) with ``id``, ``type: "function"``
  and ``function.name``; later deltas for that index may only append ``function.arguments``; the assembled
  arguments of every call are a JSON object;
* exactly one non-null ``finish_reason`` per choice, and nothing for that choice after it;
* with ``include_usage``: exactly one usage chunk, the last, with empty ``choices`` and consistent totals;
  without: no usage at all.

Chunks are the parsed ``data:`` objects, without the final ``[DONE]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


@dataclass
class ChoiceSummary:
    index: int
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    role_seen: bool = False


@dataclass
class StreamSummary:
    choices: dict[int, ChoiceSummary]
    usage: dict[str, Any] | None


def check_chat_stream(chunks: list[dict[str, Any]], *, include_usage: bool) -> StreamSummary:
    assert chunks, "an empty stream"
    first = chunks[0]
    choices: dict[int, ChoiceSummary] = {}
    usage: dict[str, Any] | None = None
    for n, chunk in enumerate(chunks):
        where = f"chunk {n}"
        assert chunk.get("object") == "chat.completion.chunk", f"{where}: object is {chunk.get('object')!r}"
        for key in ("id", "created", "model"):
            assert chunk.get(key) == first.get(key), f"{where}: {key} changed mid-stream"
        assert isinstance(chunk["id"], str) and chunk["id"], f"{where}: id"
        assert isinstance(chunk["created"], int), f"{where}: created"
        assert usage is None, f"{where}: a chunk after the usage chunk"
        if chunk.get("usage") is not None:
            assert include_usage, f"{where}: usage sent although not requested"
            assert chunk.get("choices") == [], f"{where}: the usage chunk must have empty choices"
            usage = chunk["usage"]
            _check_usage(usage, where)
            continue
        assert isinstance(chunk.get("choices"), list) and chunk["choices"], f"{where}: no choices"
        for entry in chunk["choices"]:
            _check_choice_delta(entry, choices, where)
    for summary in choices.values():
        assert summary.finish_reason is not None, f"choice {summary.index}: no finish_reason"
        for call in summary.tool_calls:
            args = json.loads(call["function"]["arguments"])
            assert isinstance(args, dict), f"choice {summary.index}: tool call arguments are not an object"
    assert 0 in choices, "no choice 0"
    assert sorted(choices) == list(range(len(choices))), "choice indices are not contiguous"
    if include_usage:
        assert usage is not None, "usage was requested but no usage chunk came"
    return StreamSummary(choices, usage)


def _check_choice_delta(entry: dict[str, Any], choices: dict[int, ChoiceSummary], where: str) -> None:
    index = entry.get("index")
    assert isinstance(index, int), f"{where}: choice index"
    summary = choices.setdefault(index, ChoiceSummary(index))
    assert summary.finish_reason is None, f"{where}: choice {index} continues after its finish_reason"
    delta = entry.get("delta")
    assert isinstance(delta, dict), f"{where}: delta must be an object"
    if "role" in delta:
        assert not summary.role_seen, f"{where}: role sent twice for choice {index}"
        assert delta["role"] == "assistant", f"{where}: role {delta['role']!r}"
        summary.role_seen = True
    assert summary.role_seen, f"{where}: choice {index} has a delta before its role"
    content = delta.get("content")
    assert content is None or isinstance(content, str), f"{where}: content type"
    summary.content += content or ""
    reasoning = delta.get("reasoning_content")
    assert reasoning is None or isinstance(reasoning, str), f"{where}: reasoning_content type"
    summary.reasoning += reasoning or ""
    for call in delta.get("tool_calls") or []:
        _check_tool_call_delta(call, summary, where)
    reason = entry.get("finish_reason")
    if reason is not None:
        assert reason in FINISH_REASONS, f"{where}: finish_reason {reason!r}"
        summary.finish_reason = reason


def _check_tool_call_delta(call: dict[str, Any], summary: ChoiceSummary, where: str) -> None:
    index = call.get("index")
    assert isinstance(index, int), f"{where}: tool call without an integer index"
    function = call.get("function") or {}
    if index == len(summary.tool_calls):
        assert isinstance(call.get("id"), str) and call["id"], f"{where}: new tool call {index} without id"
        assert call.get("type") == "function", f"{where}: tool call {index} type"
        assert isinstance(function.get("name"), str) and function["name"], f"{where}: tool call {index} name"
        summary.tool_calls.append({"id": call["id"], "type": "function",
                                   "function": {"name": function["name"], "arguments": ""}})
    else:
        assert index < len(summary.tool_calls), (
            f"{where}: tool call index {index} skips ahead (next would be {len(summary.tool_calls)})")
        assert "id" not in call and "name" not in function, f"{where}: tool call {index} restarted"
    arguments = function.get("arguments", "")
    assert isinstance(arguments, str), f"{where}: arguments must be a string"
    summary.tool_calls[index]["function"]["arguments"] += arguments


def _check_usage(usage: Any, where: str) -> None:
    assert isinstance(usage, dict), f"{where}: usage must be an object"
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(usage.get(key), int) and usage[key] >= 0, f"{where}: usage.{key}"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], f"{where}: usage total"
