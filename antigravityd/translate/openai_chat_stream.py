"""Upstream stream → OpenAI ``chat.completion.chunk`` objects, and the same state as one ``chat.completion``
(upstream-protocol §8.2).

:class:`ChatStreamTranslator` is a state machine in the h11 style: ``feed(upstream_event)`` returns the chunks to
send, ``finish(truncated=...)`` the closing ones (finish reasons still missing, then the usage chunk), and
``completion()`` the non-stream body built from the very same state — so a non-stream client gets exactly what a
stream client would have assembled. Framing (``data:`` lines, ``[DONE]``) is the API layer's job.

Rules worth knowing:

* The first delta of each choice carries ``role: "assistant"`` (exactly once).
* Thoughts become ``reasoning_content`` deltas; empty text (signature carriers) produces nothing.
* Each ``functionCall`` part is one complete tool call with its own ``index`` (0, 1, 2 … per choice) and the
  upstream id, or a generated ``call_<24 alnum>``. Upstream delivers calls whole, so a truncated stream never
  leaves a half-written call behind.
* ``finish_reason``: ``length`` if the stream was cut (truncated) or the model hit ``MAX_TOKENS``; else
  ``tool_calls`` when the choice made calls; ``content_filter`` for safety stops; ``stop`` otherwise.
* Images arrive as markdown data URIs in the content.
* Every signature is reported through :attr:`signatures` for the pipeline to cache (by call id, call content,
  session, and the hash of the full ``reasoning_content`` a client might send back).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from antigravityd.translate.context import random_id
from antigravityd.translate.signature_cache import SeenSignature
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.upstream_events import FILTERED_REASONS, Part, read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["ChatStreamTranslator", "openai_finish_reason"]



def openai_finish_reason(upstream: str | None, *, made_calls: bool, truncated: bool) -> str:
    if truncated or upstream == "MAX_TOKENS":
        return "length"
    if made_calls:
        return "tool_calls"
    if upstream in FILTERED_REASONS:
        return "content_filter"
    return "stop"


@dataclass(slots=True)
class _Choice:
    index: int
    role_sent: bool = False
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    thought_signature: str | None = None
    finish_reason: str | None = None


class ChatStreamTranslator:
    """One response's translation. ``model`` is the name the client asked for (reported back as is)."""

    def __init__(
        self,
        model: str,
        completion_id: str,
        created: int,
        include_usage: bool,
        *,
        family: str = "gemini",
        session_id: str | None = None,
        new_id: Callable[[str], str] = random_id,
    ) -> None:
        self.model = model
        self.completion_id = completion_id
        self.created = created
        self.include_usage = include_usage
        self.usage = Usage()
        self.finished = False
        self.truncated = False
        self.response_id: str | None = None
        self._new_id = new_id
        self._choices: dict[int, _Choice] = {}
        self._call_ids: set[str] = set()
        self._recorder = SignatureRecorder(family, session_id)

    @property
    def signatures(self) -> list[SeenSignature]:
        return self._recorder.seen

    @property
    def finish_reason(self) -> str | None:
        """Choice 0's finish reason (for metrics and the request log)."""
        choice = self._choices.get(0)
        return choice.finish_reason if choice else None

    # ------------------------------------------------------------------------------------------ stream

    def feed(self, event: object) -> list[dict[str, Any]]:
        """Chunks for one upstream event (a parsed SSE ``data`` object)."""
        if self.finished:
            return []
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        self.response_id = self.response_id or chunk.response_id
        out: list[dict[str, Any]] = []
        for candidate in chunk.candidates:
            choice = self._choice(candidate.index)
            if choice.finish_reason is not None:
                continue
            for part in candidate.parts:
                delta = self._delta(choice, part)
                if delta:
                    out.append(self._chunk(choice, delta))
            if candidate.finish_reason:
                out.extend(self._finish_choice(choice, candidate.finish_reason, truncated=False))
        if chunk.blocked:
            for choice in [self._choice(0), *self._choices.values()]:
                if choice.finish_reason is None:
                    out.extend(self._finish_choice(choice, "SAFETY", truncated=False))
        return out

    def finish(self, *, truncated: bool) -> list[dict[str, Any]]:
        """Closing chunks once the upstream stream has ended. ``truncated``: it ended without a finish reason."""
        if self.finished:
            return []
        out: list[dict[str, Any]] = []
        if not self._choices:
            self._choice(0)
        for choice in sorted(self._choices.values(), key=lambda c: c.index):
            if choice.finish_reason is None:
                self.truncated = self.truncated or truncated
                out.extend(self._finish_choice(choice, None, truncated=truncated))
        self.finished = True
        if self.include_usage:
            out.append({"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": self.usage.openai()})
        return out

    # ------------------------------------------------------------------------------------------ non-stream

    def completion(self) -> dict[str, Any]:
        """The ``chat.completion`` object for a non-stream client (call after :meth:`finish`)."""
        if not self.finished:
            raise RuntimeError("finish() must be called before completion()")
        choices = []
        for choice in sorted(self._choices.values(), key=lambda c: c.index):
            message: dict[str, Any] = {"role": "assistant"}
            text = "".join(choice.text)
            message["content"] = text if text or not choice.tool_calls else None
            if choice.reasoning:
                message["reasoning_content"] = "".join(choice.reasoning)
            if choice.tool_calls:
                message["tool_calls"] = [
                    {k: v for k, v in call.items() if k != "index"} for call in choice.tool_calls
                ]
            choices.append({"index": choice.index, "message": message, "logprobs": None,
                            "finish_reason": choice.finish_reason})
        return {"id": self.completion_id, "object": "chat.completion", "created": self.created,
                "model": self.model, "choices": choices, "usage": self.usage.openai()}

    # ------------------------------------------------------------------------------------------ internals

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice(index)
        return choice

    def _chunk(self, choice: _Choice, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        if not choice.role_sent:
            delta = {"role": "assistant", **delta}
            choice.role_sent = True
        return {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": choice.index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def _delta(self, choice: _Choice, part: Part) -> dict[str, Any] | None:
        if part.kind == "thought":
            if part.signature:
                self._recorder.signature(part.signature)
                choice.thought_signature = part.signature
            if not part.text:
                return None
            choice.reasoning.append(part.text)
            return {"content": None, "reasoning_content": part.text}
        if part.kind == "text":
            if part.signature:
                self._recorder.signature(part.signature)
            if not part.text:
                return None
            choice.text.append(part.text)
            return {"content": part.text}
        if part.kind == "call":
            # an id seen twice would make the client pair results wrongly: only the first keeps the upstream's
            call_id = part.call_id if part.call_id and part.call_id not in self._call_ids else self._new_id("call_")
            self._call_ids.add(call_id)
            self._recorder.call(call_id, part.name, part.args, part.signature)
            call = {"index": len(choice.tool_calls), "id": call_id, "type": "function",
                    "function": {"name": part.name,
                                 "arguments": json.dumps(part.args, ensure_ascii=False, separators=(",", ":"))}}
            choice.tool_calls.append(call)
            return {"tool_calls": [call]}
        if part.kind == "image":
            markdown = f"![image](data:{part.mime};base64,{part.data})"
            choice.text.append(markdown)
            return {"content": markdown}
        return None

    def _finish_choice(self, choice: _Choice, upstream: str | None, *, truncated: bool) -> list[dict[str, Any]]:
        choice.finish_reason = openai_finish_reason(upstream, made_calls=bool(choice.tool_calls), truncated=truncated)
        if choice.reasoning and choice.thought_signature:
            self._recorder.thought("".join(choice.reasoning), choice.thought_signature)
        out = []
        if not choice.role_sent:
            out.append(self._chunk(choice, {"content": ""}))
        out.append(self._chunk(choice, {}, choice.finish_reason))
        return out
