"""Upstream stream → Anthropic Messages stream events and the non-stream ``message`` (upstream-protocol §8.4).

Event sequence: ``message_start``; per content block ``content_block_start`` → deltas → ``content_block_stop``
with indices 0, 1, 2 … and one block open at a time; ``message_delta`` (stop reason, usage); ``message_stop``.
Each returned event is the ``data`` object; its ``type`` is also the SSE ``event:`` name. ``ping`` events are the
API layer's (timer) business: :data:`PING`.

Blocks:

* thought parts → one ``thinking`` block (``thinking_delta``); a signature on a thought part is remembered and sent
  as ``signature_delta`` right before the block closes. A signature-only thought part with no thinking block open
  becomes a synthetic empty thinking block, so the signature still reaches the client (it must come back with the
  history for Claude to accept the next turn).
* text → a ``text`` block (``text_delta``); images arrive as markdown in a text block.
* each ``functionCall`` → its own ``tool_use`` block: start with ``input: {}``, one ``input_json_delta`` carrying
  the complete arguments, stop. Upstream delivers calls whole, so a truncated stream never leaves partial JSON.

Signatures on non-thought parts (Gemini puts them on calls and trailing text) are not shown to Anthropic clients,
which would drop them anyway; they go to the caches through :attr:`signatures`.

``stop_reason``: ``tool_use`` when a tool was called; ``max_tokens`` for ``MAX_TOKENS`` or a truncated stream;
``refusal`` for safety stops; ``end_turn`` otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from antigravityd.translate.context import random_id
from antigravityd.translate.signature_cache import SeenSignature, usable_signature
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.upstream_events import FILTERED_REASONS, Part, read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["PING", "AnthropicStreamTranslator", "anthropic_stop_reason"]

PING = {"type": "ping"}


def anthropic_stop_reason(upstream: str | None, *, made_calls: bool, truncated: bool) -> str:
    if made_calls and not truncated:
        return "tool_use"
    if truncated or upstream == "MAX_TOKENS":
        return "max_tokens"
    if upstream in FILTERED_REASONS:
        return "refusal"
    return "end_turn"


class AnthropicStreamTranslator:
    """One response's translation. ``model`` is the name the client asked for; ``message_id`` e.g. ``msg_…``."""

    def __init__(self, model: str, message_id: str, *, family: str = "claude", session_id: str | None = None,
                 new_id: Callable[[str], str] = random_id) -> None:
        self.model = model
        self.message_id = message_id
        self.usage = Usage()
        self.finished = False
        self.truncated = False
        self.stop_reason: str | None = None
        self._new_id = new_id
        self._recorder = SignatureRecorder(family, session_id)
        self._started = False
        self._blocks: list[dict[str, Any]] = []  # the assembled content, for message()
        self._open: str | None = None  # type of the open block
        self._pending_signature: str | None = None
        self._thinking_text: list[str] = []
        self._upstream_finish: str | None = None
        self._call_ids: set[str] = set()

    @property
    def signatures(self) -> list[SeenSignature]:
        return self._recorder.seen

    def feed(self, event: object) -> list[dict[str, Any]]:
        if self.finished:
            return []
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        out: list[dict[str, Any]] = []
        candidate = next((c for c in chunk.candidates if c.index == 0), None)
        if not self._started and (candidate is not None or chunk.usage or chunk.blocked):
            out.append(self._message_start())
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
        out: list[dict[str, Any]] = []
        if not self._started:
            out.append(self._message_start())
        out.extend(self._close())
        self.truncated = truncated and self._upstream_finish is None
        made_calls = any(b["type"] == "tool_use" for b in self._blocks)
        self.stop_reason = anthropic_stop_reason(self._upstream_finish, made_calls=made_calls,
                                                 truncated=self.truncated)
        out.append({"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": self.usage.anthropic()})
        out.append({"type": "message_stop"})
        return out

    def message(self) -> dict[str, Any]:
        """The non-stream ``message`` object (call after :meth:`finish`)."""
        if not self.finished:
            raise RuntimeError("finish() must be called before message()")
        return {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
                "content": [dict(b) for b in self._blocks], "stop_reason": self.stop_reason,
                "stop_sequence": None, "usage": self.usage.anthropic()}

    # ------------------------------------------------------------------------------------------ internals

    def _message_start(self) -> dict[str, Any]:
        self._started = True
        usage = self.usage.anthropic() | {"output_tokens": 0}
        return {"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": None, "stop_sequence": None, "usage": usage}}

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
            return self._tool_use(part)
        return []

    def _thought(self, part: Part) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        usable = usable_signature(part.signature)
        if part.signature:
            self._recorder.signature(part.signature)
        if not part.text and not usable:
            return out
        if self._open != "thinking":  # (a signature alone opens a synthetic empty thinking block)
            out.extend(self._start({"type": "thinking", "thinking": "", "signature": ""}))
        if part.text:
            self._thinking_text.append(part.text)
            self._blocks[-1]["thinking"] += part.text
            out.append(self._delta({"type": "thinking_delta", "thinking": part.text}))
        if usable:
            self._pending_signature = part.signature
        return out

    def _text(self, text: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._open != "text":
            out.extend(self._start({"type": "text", "text": ""}))
        self._blocks[-1]["text"] += text
        out.append(self._delta({"type": "text_delta", "text": text}))
        return out

    def _tool_use(self, part: Part) -> list[dict[str, Any]]:
        # an id seen twice would make the client pair results wrongly: only the first keeps the upstream's
        call_id = part.call_id if part.call_id and part.call_id not in self._call_ids else self._new_id("toolu_")
        self._call_ids.add(call_id)
        self._recorder.call(call_id, part.name, part.args, part.signature)
        out = self._start({"type": "tool_use", "id": call_id, "name": part.name, "input": {}})
        self._blocks[-1]["input"] = dict(part.args)
        out.append(self._delta({"type": "input_json_delta",
                                "partial_json": json.dumps(part.args, ensure_ascii=False, separators=(",", ":"))}))
        out.extend(self._close())
        return out

    def _start(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        self._blocks.append(dict(block))
        self._open = block["type"]
        return [*out, {"type": "content_block_start", "index": len(self._blocks) - 1, "content_block": dict(block)}]

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": len(self._blocks) - 1, "delta": delta}

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        out: list[dict[str, Any]] = []
        if self._open == "thinking":
            signature = self._pending_signature
            if signature:
                self._blocks[-1]["signature"] = signature
                out.append(self._delta({"type": "signature_delta", "signature": signature}))
                self._recorder.thought("".join(self._thinking_text), signature)
            self._pending_signature = None
            self._thinking_text = []
        out.append({"type": "content_block_stop", "index": len(self._blocks) - 1})
        self._open = None
        return out
