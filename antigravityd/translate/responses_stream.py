"""Upstream stream → OpenAI Responses API stream events and the final ``response`` object.

Sequence (every event has ``type`` and a ``sequence_number`` counting from 0):
``response.created``, ``response.in_progress``, then output items one after another —

* a thinking block → a ``reasoning`` item: ``output_item.added``, ``reasoning_summary_part.added``,
  ``reasoning_summary_text.delta``…, ``reasoning_summary_text.done``, ``reasoning_summary_part.done``,
  ``output_item.done``. Its ``encrypted_content`` carries the thought signature, which Codex sends back with the
  history (``include: ["reasoning.encrypted_content"]``) — an exact round trip;
* text → a ``message`` item: ``output_item.added``, ``content_part.added``, ``output_text.delta``…,
  ``output_text.done``, ``content_part.done``, ``output_item.done``;
* each ``functionCall`` → a ``function_call`` item: ``output_item.added``, one
  ``function_call_arguments.delta`` with the complete arguments, ``function_call_arguments.done``,
  ``output_item.done`` (plus ``namespace`` when the function was declared inside one);

and finally ``response.completed`` — or ``response.incomplete`` (``max_output_tokens`` for ``MAX_TOKENS`` or a
truncated stream, ``content_filter`` for safety stops) — carrying the whole response with usage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from antigravityd.translate.context import random_id
from antigravityd.translate.signature_cache import SeenSignature, usable_signature
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.upstream_events import FILTERED_REASONS, Part, read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["ResponsesStreamTranslator"]


class ResponsesStreamTranslator:
    """One response's translation. ``request_fields`` are echoed in the response object (``instructions``,
    ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``reasoning``, ``text``, ``metadata`` …) — the API layer
    picks them from the request; ``namespaces`` comes from :func:`responses.tool_namespaces`."""

    def __init__(self, model: str, response_id: str, created_at: int, *, family: str = "gemini",
                 session_id: str | None = None, new_id: Callable[[str], str] = random_id,
                 request_fields: Mapping[str, Any] | None = None,
                 namespaces: Mapping[str, str] | None = None) -> None:
        self.model = model
        self.response_id = response_id
        self.created_at = created_at
        self.usage = Usage()
        self.finished = False
        self.truncated = False
        self.status: str | None = None
        self._new_id = new_id
        self._fields = dict(request_fields or {})
        self._namespaces = dict(namespaces or {})
        self._recorder = SignatureRecorder(family, session_id)
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []
        self._open: str | None = None  # "reasoning" | "message"
        self._texts: list[str] = []  # fragments of the open item
        self._pending_signature: str | None = None
        self._upstream_finish: str | None = None
        self._incomplete: str | None = None
        self._call_ids: set[str] = set()

    @property
    def signatures(self) -> list[SeenSignature]:
        return self._recorder.seen

    def feed(self, event: object) -> list[dict[str, Any]]:
        if self.finished:
            return []
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        out = self._start() if not self._started else []
        candidate = next((c for c in chunk.candidates if c.index == 0), None)
        if candidate is not None and self._upstream_finish is None:
            for part in candidate.parts:
                out.extend(self._part(part))
            if candidate.finish_reason:
                self._upstream_finish = candidate.finish_reason
        if chunk.blocked and self._upstream_finish is None:
            self._upstream_finish = "SAFETY"
        return out

    def finish(self, *, truncated: bool) -> list[dict[str, Any]]:
        if self.finished:
            return []
        self.finished = True
        out = self._start() if not self._started else []
        out.extend(self._close())
        self.truncated = truncated and self._upstream_finish is None
        reason = None
        if self.truncated or self._upstream_finish == "MAX_TOKENS":
            reason = "max_output_tokens"
        elif self._upstream_finish in FILTERED_REASONS:
            reason = "content_filter"
        self.status = "incomplete" if reason else "completed"
        self._incomplete = reason
        response = self.response()
        kind = "response.incomplete" if reason else "response.completed"
        out.append(self._event(kind, response=response))
        return out

    def response(self) -> dict[str, Any]:
        """The ``response`` object: in progress while streaming, final after :meth:`finish`."""
        body: dict[str, Any] = {
            "id": self.response_id, "object": "response", "created_at": self.created_at,
            "status": self.status or "in_progress", "model": self.model, "output": [dict(i) for i in self._output],
            "error": None, "incomplete_details": None,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        }
        body.update(self._fields)
        if self.finished:
            body["usage"] = self.usage.responses()
            if self._incomplete:
                body["incomplete_details"] = {"reason": self._incomplete}
        return body

    # ------------------------------------------------------------------------------------------ internals

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _start(self) -> list[dict[str, Any]]:
        self._started = True
        snapshot = self.response()
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=dict(snapshot))]

    def _part(self, part: Part) -> list[dict[str, Any]]:
        if part.kind == "thought":
            return self._thought(part)
        if part.signature:
            self._recorder.signature(part.signature)
        if part.kind == "text":
            return self._text(part.text) if part.text else []
        if part.kind == "image":
            return self._text(f"![image](data:{part.mime};base64,{part.data})")
        if part.kind == "call":
            return self._call(part)
        return []

    def _open_item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        self._output.append(item)
        self._open = item["type"] if item["type"] != "function_call" else None
        self._texts = []
        return [*out, self._event("response.output_item.added", output_index=len(self._output) - 1,
                                  item=dict(item))]

    def _thought(self, part: Part) -> list[dict[str, Any]]:
        usable = usable_signature(part.signature)
        if part.signature:
            self._recorder.signature(part.signature)
        if not part.text and not usable:
            return []
        out: list[dict[str, Any]] = []
        if self._open != "reasoning":
            item_id = self._new_id("rs_")
            out.extend(self._open_item({"id": item_id, "type": "reasoning", "summary": []}))
            index = len(self._output) - 1
            out.append(self._event("response.reasoning_summary_part.added", item_id=item_id, output_index=index,
                                   summary_index=0, part={"type": "summary_text", "text": ""}))
        index = len(self._output) - 1
        if part.text:
            self._texts.append(part.text)
            out.append(self._event("response.reasoning_summary_text.delta", item_id=self._output[index]["id"],
                                   output_index=index, summary_index=0, delta=part.text))
        if usable:
            self._pending_signature = part.signature
        return out

    def _text(self, text: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._open != "message":
            item_id = self._new_id("msg_")
            out.extend(self._open_item({"id": item_id, "type": "message", "status": "in_progress",
                                        "role": "assistant", "content": []}))
            out.append(self._event("response.content_part.added", item_id=item_id, output_index=len(self._output) - 1,
                                   content_index=0, part=_output_text("")))
        index = len(self._output) - 1
        self._texts.append(text)
        out.append(self._event("response.output_text.delta", item_id=self._output[index]["id"], output_index=index,
                               content_index=0, delta=text, logprobs=[]))
        return out

    def _call(self, part: Part) -> list[dict[str, Any]]:
        call_id = part.call_id if part.call_id and part.call_id not in self._call_ids else self._new_id("call_")
        self._call_ids.add(call_id)
        self._recorder.call(call_id, part.name, part.args, part.signature)
        arguments = json.dumps(part.args, ensure_ascii=False, separators=(",", ":"))
        item: dict[str, Any] = {"id": self._new_id("fc_"), "type": "function_call", "status": "in_progress",
                                "call_id": call_id, "name": part.name, "arguments": ""}
        if part.name in self._namespaces:
            item["namespace"] = self._namespaces[part.name]
        out = self._open_item(item)
        index = len(self._output) - 1
        out.append(self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                               delta=arguments))
        out.append(self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                               arguments=arguments))
        done = {**item, "status": "completed", "arguments": arguments}
        self._output[index] = done
        out.append(self._event("response.output_item.done", output_index=index, item=dict(done)))
        return out

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        index = len(self._output) - 1
        item = self._output[index]
        text = "".join(self._texts)
        out: list[dict[str, Any]] = []
        if self._open == "reasoning":
            summary = {"type": "summary_text", "text": text}
            out.append(self._event("response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                                   summary_index=0, text=text))
            out.append(self._event("response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                                   summary_index=0, part=summary))
            done = {**item, "summary": [summary]}
            if self._pending_signature:
                done["encrypted_content"] = self._pending_signature
                self._recorder.thought(text, self._pending_signature)
            self._pending_signature = None
        else:
            part = _output_text(text)
            out.append(self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                   content_index=0, text=text, logprobs=[]))
            out.append(self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                   content_index=0, part=part))
            done = {**item, "status": "completed", "content": [part]}
        self._output[index] = done
        out.append(self._event("response.output_item.done", output_index=index, item=dict(done)))
        self._open = None
        self._texts = []
        return out


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
