"""Upstream stream → OpenAI Responses API events, as a pure state machine.

The sequence (OpenAI's "Streaming responses" reference): ``response.created``, ``response.in_progress``, then per
output item ``response.output_item.added`` … ``response.output_item.done`` with, inside:

* a ``reasoning`` item (thought parts): ``response.reasoning_summary_part.added``,
  ``response.reasoning_summary_text.delta``\\*, ``…text.done``, ``…part.done`` — the thought text is the summary;
  the thought signature travels as the item's ``encrypted_content`` when the client asked for it
  (``include: ["reasoning.encrypted_content"]``), which is how Codex hands it back next turn;
* a ``message`` item: ``response.content_part.added``, ``response.output_text.delta``\\*,
  ``response.output_text.done``, ``response.content_part.done``;
* a ``function_call`` item per call: ``response.function_call_arguments.delta`` (the whole arguments — upstream
  delivers complete calls) and ``…arguments.done``; free-form tools give ``custom_tool_call`` items instead;

and finally ``response.completed`` (or ``response.incomplete`` for a cut or length-limited answer) carrying the
full response with ``usage``. Every event has ``type`` and a ``sequence_number`` counting from 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from antigravityd.translate.anthropic_stream import dump_args
from antigravityd.translate.responses_request import ToolName
from antigravityd.translate.signature_cache import SeenSignature
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.upstream_events import Part, read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["ResponsesStreamTranslator"]

Event = tuple[str, dict[str, Any]]
_INCOMPLETE = {"MAX_TOKENS": "max_output_tokens", "SAFETY": "content_filter", "RECITATION": "content_filter",
               "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter"}


class ResponsesStreamTranslator:
    def __init__(self, *, model: str, response_id: str, created_at: int, family: str, session_id: str | None,
                 tool_names: Mapping[str, ToolName] | None = None, echo: Mapping[str, Any] | None = None,
                 show_reasoning: bool = False, encrypted_reasoning: bool = False) -> None:
        self.model = model
        self.response_id = response_id
        self.created_at = created_at
        self.family = family
        self.tool_names = tool_names or {}
        self.echo = dict(echo or {})
        self.show_reasoning = show_reasoning
        self.encrypted_reasoning = encrypted_reasoning
        self.recorder = SignatureRecorder(family, session_id)
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.output: list[dict[str, Any]] = []
        self.status = "in_progress"
        self.incomplete: str | None = None
        self._seq = 0
        self._started = False
        self._finished = False
        self._open: str | None = None  # "reasoning" | "message"
        self._item: dict[str, Any] = {}
        self._pieces: list[str] = []
        self._signature: str | None = None
        self._items = 0

    @property
    def seen(self) -> list[SeenSignature]:
        return self.recorder.seen

    @property
    def sequence_number(self) -> int:
        """The next event's number (an in-stream error event continues the count)."""
        return self._seq

    # -------------------------------------------------------------------------------------------- feeding

    def feed(self, event: object) -> list[Event]:
        out: list[Event] = []
        if self._finished:
            return out
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        if not self._started:
            self._start(out)
        for candidate in chunk.candidates:
            if candidate.index != 0:
                continue
            if candidate.finish_reason:
                self.finish_reason = candidate.finish_reason
            for part in candidate.parts:
                self._part(part, out)
        if chunk.blocked and self.finish_reason is None:
            self.finish_reason = "SAFETY"
        return out

    def finish(self, *, truncated: bool) -> list[Event]:
        out: list[Event] = []
        if self._finished:
            return out
        if not self._started:
            self._start(out)
        self._close(out)
        self._finished = True
        reason = "max_output_tokens" if truncated else _INCOMPLETE.get(self.finish_reason or "")
        if reason:
            self.status, self.incomplete = "incomplete", reason
            self._emit(out, "response.incomplete", {"response": self.response()})
        else:
            self.status = "completed"
            self._emit(out, "response.completed", {"response": self.response()})
        return out

    def _part(self, part: Part, out: list[Event]) -> None:
        kind = part.kind
        if kind == "thought":
            if self._open != "reasoning":
                self._close(out)
                self._open_reasoning(out)
            if part.text:
                self._pieces.append(part.text)
                if self.show_reasoning:
                    self._emit(out, "response.reasoning_summary_text.delta", {
                        "item_id": self._item["id"], "output_index": self._index, "summary_index": 0,
                        "delta": part.text})
            if part.signature:
                self._signature = part.signature
        elif kind == "text":
            if part.signature:
                if self._open == "reasoning" and not part.text:
                    self._signature = part.signature
                else:
                    self.recorder.signature(part.signature)
            if part.text:
                self._text(part.text, out)
        elif kind == "call":
            self._close(out)
            self._call(part, out)
        elif kind == "image":
            self._text(f"![image](data:{part.mime};base64,{part.data})", out)
        elif part.signature:
            self.recorder.signature(part.signature)

    # -------------------------------------------------------------------------------------------- items

    @property
    def _index(self) -> int:
        return len(self.output)  # the open item is appended to ``output`` when it is done

    def _id(self, prefix: str) -> str:
        self._items += 1
        return f"{prefix}_" + hashlib.sha256(f"{self.response_id}:{self._items}".encode()).hexdigest()[:32]

    def _open_reasoning(self, out: list[Event]) -> None:
        self._open = "reasoning"
        self._item = {"id": self._id("rs"), "type": "reasoning", "summary": []}
        self._pieces, self._signature = [], None
        if self.show_reasoning:
            self._emit(out, "response.output_item.added", {"output_index": self._index, "item": dict(self._item)})
            self._emit(out, "response.reasoning_summary_part.added", {
                "item_id": self._item["id"], "output_index": self._index, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}})

    def _text(self, text: str, out: list[Event]) -> None:
        if self._open != "message":
            self._close(out)
            self._open = "message"
            self._item = {"id": self._id("msg"), "type": "message", "status": "in_progress", "role": "assistant",
                          "content": []}
            self._pieces = []
            self._emit(out, "response.output_item.added", {"output_index": self._index, "item": dict(self._item)})
            self._emit(out, "response.content_part.added", {
                "item_id": self._item["id"], "output_index": self._index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []}})
        self._pieces.append(text)
        self._emit(out, "response.output_text.delta", {"item_id": self._item["id"], "output_index": self._index,
                                                       "content_index": 0, "delta": text, "logprobs": []})

    def _close(self, out: list[Event]) -> None:
        if self._open == "message":
            text = "".join(self._pieces)
            item_id, index = self._item["id"], self._index
            self._emit(out, "response.output_text.done", {"item_id": item_id, "output_index": index,
                                                          "content_index": 0, "text": text, "logprobs": []})
            part = {"type": "output_text", "text": text, "annotations": []}
            self._emit(out, "response.content_part.done", {"item_id": item_id, "output_index": index,
                                                           "content_index": 0, "part": part})
            self._done(out, {**self._item, "status": "completed", "content": [part]})
        elif self._open == "reasoning":
            self._close_reasoning(out)
        self._open = None

    def _close_reasoning(self, out: list[Event]) -> None:
        text = "".join(self._pieces)
        signature = self._signature
        if signature:
            self.recorder.thought(text, signature)
        item = dict(self._item)
        if self.encrypted_reasoning and signature:
            item["encrypted_content"] = signature
        if self.show_reasoning:
            item_id, index = item["id"], self._index
            self._emit(out, "response.reasoning_summary_text.done", {
                "item_id": item_id, "output_index": index, "summary_index": 0, "text": text})
            part = {"type": "summary_text", "text": text}
            self._emit(out, "response.reasoning_summary_part.done", {
                "item_id": item_id, "output_index": index, "summary_index": 0, "part": part})
            self._done(out, {**item, "summary": [part]})
        elif "encrypted_content" in item:
            # Summaries not wanted, but the signature must still reach the client to come back next turn.
            self._emit(out, "response.output_item.added", {"output_index": self._index, "item": dict(self._item)})
            self._done(out, item)

    def _call(self, part: Part, out: list[Event]) -> None:
        declared = part.name
        tool = self.tool_names.get(declared, ToolName(declared))
        call_id = part.call_id or "call_" + hashlib.sha256(
            f"{self.response_id}:call:{self._items}".encode()).hexdigest()[:24]
        args = dict(part.args)
        self.recorder.call(call_id, declared, args, part.signature)
        if tool.custom:
            value = args.get("input")
            text = value if isinstance(value, str) else dump_args(args)
            item = {"id": self._id("ctc"), "type": "custom_tool_call", "status": "in_progress", "call_id": call_id,
                    "name": tool.name, "input": ""}
            names = ("response.custom_tool_call_input.delta", "response.custom_tool_call_input.done", "input")
        else:
            text = dump_args(args)
            item = {"id": self._id("fc"), "type": "function_call", "status": "in_progress", "call_id": call_id,
                    "name": tool.name, "arguments": ""}
            names = ("response.function_call_arguments.delta", "response.function_call_arguments.done", "arguments")
        if tool.namespace:
            item["namespace"] = tool.namespace
        index = self._index
        self._emit(out, "response.output_item.added", {"output_index": index, "item": dict(item)})
        self._emit(out, names[0], {"item_id": item["id"], "output_index": index, "delta": text})
        self._emit(out, names[1], {"item_id": item["id"], "output_index": index, names[2]: text})
        self._done(out, {**item, "status": "completed", names[2]: text})

    def _done(self, out: list[Event], item: dict[str, Any]) -> None:
        self._emit(out, "response.output_item.done", {"output_index": self._index, "item": item})
        self.output.append(item)

    # -------------------------------------------------------------------------------------------- the response

    def _start(self, out: list[Event]) -> None:
        self._started = True
        self._emit(out, "response.created", {"response": self.response()})
        self._emit(out, "response.in_progress", {"response": self.response()})

    def _emit(self, out: list[Event], name: str, payload: dict[str, Any]) -> None:
        out.append((name, {"type": name, "sequence_number": self._seq, **payload}))
        self._seq += 1

    def response(self) -> dict[str, Any]:
        """The response object (final after :meth:`finish`; in progress before)."""
        echo = self.echo
        done = self.status != "in_progress"
        return {
            "id": self.response_id, "object": "response", "created_at": self.created_at, "status": self.status,
            "error": None,
            "incomplete_details": {"reason": self.incomplete} if self.incomplete else None,
            "instructions": echo.get("instructions"), "max_output_tokens": echo.get("max_output_tokens"),
            "model": self.model, "output": list(self.output) if done else [],
            "parallel_tool_calls": echo.get("parallel_tool_calls", True) is not False,
            "previous_response_id": None,
            "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
            "store": bool(echo.get("store")),
            "temperature": echo.get("temperature") if echo.get("temperature") is not None else 1.0,
            "text": echo.get("text") or {"format": {"type": "text"}},
            "tool_choice": echo.get("tool_choice") or "auto", "tools": echo.get("tools") or [],
            "top_p": echo.get("top_p") if echo.get("top_p") is not None else 1.0,
            "truncation": echo.get("truncation") or "disabled",
            "usage": self.usage.responses() if done else None,
            "user": echo.get("user"), "metadata": echo.get("metadata") or {},
        }
