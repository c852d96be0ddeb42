"""Upstream stream → Anthropic Messages events (upstream-protocol §8.4), as a pure state machine.

``feed(upstream_event)`` and ``finish(truncated=...)`` return ``(event_name, payload)`` pairs; the API layer frames
them as ``event: <name>\\ndata: <json>``. The sequence is exactly Anthropic's:

``message_start`` → per block ``content_block_start``, ``content_block_delta``\\* , ``content_block_stop`` (indices
0, 1, 2 … contiguous, one block open at a time) → ``message_delta`` (stop reason, usage) → ``message_stop``.

Blocks: thought parts form a ``thinking`` block, closed by its ``signature_delta`` (a Claude signature in the
client's E-form); text parts a ``text`` block; every function call is its own ``tool_use`` block with its
complete arguments in one ``input_json_delta`` (upstream delivers whole calls). A Claude signature arriving with no
thinking block open gets an empty thinking block so it still reaches the client; a Gemini one is only remembered.

Every signature the upstream issues goes to a :class:`SignatureRecorder` (by tool id, session and thinking-text
hash); the pipeline persists ``seen`` after a successful answer. With ``collect=True`` the translator also builds
the non-streaming ``message`` object from the same events, so both modes share one state machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from antigravityd.translate.signature_cache import SeenSignature
from antigravityd.translate.signature_forms import to_client_form
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.stop_scan import StopScanner
from antigravityd.translate.upstream_events import Part, read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["AnthropicStreamTranslator", "Event", "anthropic_stop_reason", "dump_args"]

Event = tuple[str, dict[str, Any]]


def dump_args(args: object) -> str:
    """Call arguments as JSON text; orjson refuses integers beyond 64 bits, the stdlib does not."""
    if not isinstance(args, dict):
        args = dict(args)  # type: ignore[call-overload]  # the reader's shared empty mapping is read-only
    try:
        return orjson.dumps(args).decode()
    except TypeError:
        return json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=str)


def anthropic_stop_reason(finish: str | None, *, tool_use: bool, truncated: bool, stop_sequence: str | None) -> str:
    if stop_sequence is not None:
        return "stop_sequence"
    if truncated:
        return "max_tokens"  # the stream ended without a finish reason (§3.8): report it as cut short
    if tool_use:
        return "tool_use"
    if finish == "MAX_TOKENS":
        return "max_tokens"
    return "end_turn"


class AnthropicStreamTranslator:
    def __init__(self, *, model: str, family: str, session_id: str | None, message_id: str,
                 stop_sequences: tuple[str, ...] | list[str] = (), collect: bool = False) -> None:
        self.model = model  # the name the client asked for
        self.family = family
        self.fallback_id = message_id
        self.message_id = message_id
        self.recorder = SignatureRecorder(family, session_id)
        self.usage = Usage()
        self.finish_reason: str | None = None
        self._stops = StopScanner(stop_sequences)
        self._started = False
        self._finished = False
        self._index = 0  # the next block's index
        self._open: str | None = None  # "thinking" | "text" while a block is open
        self._thinking: list[str] = []
        self._signature: str | None = None  # upstream form, for the open thinking block
        self._tool_uses = 0
        self._collect = collect
        self._blocks: list[dict[str, Any]] = []
        self._stop_reason: str | None = None

    @property
    def seen(self) -> list[SeenSignature]:
        return self.recorder.seen

    # -------------------------------------------------------------------------------------------- feeding

    def feed(self, event: object) -> list[Event]:
        out: list[Event] = []
        if self._finished:
            return out
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        if not self._started:
            if chunk.response_id:
                rid = chunk.response_id
                self.message_id = rid if rid.startswith("msg_") else "msg_" + rid
            self._start(out)
        for candidate in chunk.candidates:
            if candidate.index != 0:
                continue  # Anthropic answers have one candidate
            if candidate.finish_reason:
                self.finish_reason = candidate.finish_reason
            for part in candidate.parts:
                if self._stops.matched is None:
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
        self._flush_text(out)
        self._close(out)
        self._finished = True
        stop = self._stops.matched
        self._stop_reason = anthropic_stop_reason(self.finish_reason, tool_use=bool(self._tool_uses),
                                                  truncated=truncated, stop_sequence=stop)
        self._emit(out, "message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": self._stop_reason, "stop_sequence": stop},
                                          "usage": self.usage.anthropic()})
        self._emit(out, "message_stop", {"type": "message_stop"})
        return out

    # -------------------------------------------------------------------------------------------- parts

    def _part(self, part: Part, out: list[Event]) -> None:
        kind = part.kind
        if kind == "thought":
            if self._open != "thinking":
                self._flush_text(out)
                self._close(out)
                self._open_block(out, "thinking", {"type": "thinking", "thinking": ""})
            if part.text:
                self._thinking.append(part.text)
                self._delta(out, {"type": "thinking_delta", "thinking": part.text})
            if part.signature:
                self._signature = part.signature
        elif kind == "text":
            if part.signature:
                self._loose_signature(part.signature, out, carrier=not part.text)
            if part.text:
                text = self._stops.feed(part.text)
                if text or self._open != "text":
                    if self._open != "text":
                        self._close(out)
                        self._open_block(out, "text", {"type": "text", "text": ""})
                    if text:
                        self._delta(out, {"type": "text_delta", "text": text})
                if self._stops.matched is not None:
                    self._close(out)
        elif kind == "call":
            self._flush_text(out)
            self._close(out)
            self._tool_use(part, out)
        elif kind == "image":
            self._flush_text(out)
            self._close(out)
            self._open_block(out, "text", {"type": "text", "text": ""})
            self._delta(out, {"type": "text_delta", "text": f"![image](data:{part.mime};base64,{part.data})"})
            self._close(out)
        elif part.signature:
            self._loose_signature(part.signature, out, carrier=True)

    def _loose_signature(self, signature: str, out: list[Event], *, carrier: bool) -> None:
        """A signature on a non-thought part (Gemini's carrier, or a Claude signature after its thoughts)."""
        if self._open == "thinking" and (carrier or self.family == "claude"):
            self._signature = signature
            return
        if self.family == "claude" and carrier:
            # Claude's signature must reach the client with a thinking block, even an empty one (§8.4).
            self._flush_text(out)
            self._close(out)
            self._open_block(out, "thinking", {"type": "thinking", "thinking": ""})
            self._signature = signature
            self._close(out)
            return
        self.recorder.signature(signature)

    def _tool_use(self, part: Part, out: list[Event]) -> None:
        self._tool_uses += 1
        tool_id = part.call_id or self._tool_id()
        self.recorder.call(tool_id, part.name, dict(part.args), part.signature)
        index = self._index
        self._index += 1
        self._emit(out, "content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": tool_id, "name": part.name, "input": {}}})
        self._emit(out, "content_block_delta", {
            "type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": dump_args(part.args)}})
        self._emit(out, "content_block_stop", {"type": "content_block_stop", "index": index})

    def _tool_id(self) -> str:
        """Deterministic and unique per message: the response id and the call's position."""
        digest = hashlib.sha256(f"{self.message_id}:{self._tool_uses}".encode()).hexdigest()
        return "toolu_" + digest[:24]

    # -------------------------------------------------------------------------------------------- blocks

    def _start(self, out: list[Event]) -> None:
        self._started = True
        usage = self.usage.anthropic()
        self._emit(out, "message_start", {"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": None, "stop_sequence": None, "usage": usage}})

    def _open_block(self, out: list[Event], kind: str, block: dict[str, Any]) -> None:
        self._open = kind
        self._emit(out, "content_block_start", {"type": "content_block_start", "index": self._index,
                                                "content_block": block})

    def _delta(self, out: list[Event], delta: dict[str, Any]) -> None:
        self._emit(out, "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _flush_text(self, out: list[Event]) -> None:
        held = self._stops.flush()
        if held and self._open == "text":
            self._delta(out, {"type": "text_delta", "text": held})

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            text = "".join(self._thinking)
            if self._signature:
                self.recorder.thought(text, self._signature)
                self._delta(out, {"type": "signature_delta",
                                  "signature": to_client_form(self._signature, self.family)})
            self._thinking = []
            self._signature = None
        self._emit(out, "content_block_stop", {"type": "content_block_stop", "index": self._index})
        self._open = None
        self._index += 1

    def _emit(self, out: list[Event], name: str, payload: dict[str, Any]) -> None:
        out.append((name, payload))
        if self._collect:
            self._accumulate(name, payload)

    # -------------------------------------------------------------------------------------------- non-stream

    def _accumulate(self, name: str, payload: dict[str, Any]) -> None:
        if name == "content_block_start":
            self._blocks.append(dict(payload["content_block"]))
        elif name == "content_block_delta":
            block = self._blocks[payload["index"]]
            delta = payload["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block.setdefault("_parts", []).append(delta["text"])
            elif kind == "thinking_delta":
                block.setdefault("_parts", []).append(delta["thinking"])
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                block.setdefault("_parts", []).append(delta["partial_json"])
        elif name == "content_block_stop":
            block = self._blocks[payload["index"]]
            pieces = "".join(block.pop("_parts", ()))
            if block["type"] == "text":
                block["text"] = pieces
            elif block["type"] == "thinking":
                block["thinking"] = pieces
                block.setdefault("signature", "")
            elif block["type"] == "tool_use":
                block["input"] = json.loads(pieces) if pieces else {}

    def message(self) -> dict[str, Any]:
        """The non-streaming answer (after :meth:`finish`)."""
        return {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
                "content": self._blocks, "stop_reason": self._stop_reason,
                "stop_sequence": self._stops.matched, "usage": self.usage.anthropic()}
