"""Upstream stream → Gemini API responses (upstream-protocol §8.5, step 4).

The upstream already speaks ``GenerateContentResponse``; :class:`GeminiStreamTranslator` unwraps each event
(``response``), reports the client's model name as ``modelVersion``, records every thought signature for the
caches, and can assemble the stream into one non-stream body (:meth:`GeminiStreamTranslator.response`): adjacent
text fragments of the same kind are joined (a signature carrier's signature lands on the fragment before it), all
other parts are kept whole and in order, the last ``finishReason`` and the latest usage win.

A stream that ends without a finish reason (truncated) is closed with a final event whose candidate says
``MAX_TOKENS`` — the Gemini API's way of saying the answer was cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from antigravityd.translate.signature_cache import SeenSignature
from antigravityd.translate.signatures import SignatureRecorder
from antigravityd.translate.upstream_events import read_chunk, unwrap
from antigravityd.translate.usage import Usage

__all__ = ["GeminiStreamTranslator"]


class GeminiStreamTranslator:
    def __init__(self, model: str, *, family: str = "gemini", session_id: str | None = None) -> None:
        self.model = model
        self.usage = Usage()
        self.finished = False
        self.truncated = False
        self.response_id: str | None = None
        self._recorder = SignatureRecorder(family, session_id)
        self._usage_metadata: dict[str, Any] = {}
        self._parts: dict[int, list[Any]] = {}  # per candidate: _TextRun or a whole part dict
        self._finish: dict[int, str] = {}
        self._extra: dict[int, dict[str, Any]] = {}  # grounding/citation metadata per candidate, last wins
        self._thought: dict[int, tuple[list[str], str | None]] = {}
        self._blocked: dict[str, Any] | None = None

    @property
    def signatures(self) -> list[SeenSignature]:
        return self._recorder.seen

    @property
    def finish_reason(self) -> str | None:
        return self._finish.get(0)

    def feed(self, event: object) -> list[dict[str, Any]]:
        """The client-facing events for one upstream event (zero or one)."""
        if self.finished:
            return []
        body = unwrap(event)
        if not body:
            return []
        chunk = read_chunk(body)
        self.usage = self.usage.update(chunk.usage)
        if chunk.usage:
            self._usage_metadata.update(chunk.usage)
        self.response_id = self.response_id or chunk.response_id
        raw_candidates = body.get("candidates") if isinstance(body.get("candidates"), list) else []
        for candidate, raw in zip(chunk.candidates, [c for c in raw_candidates if isinstance(c, dict)],
                                  strict=False):
            for part in candidate.parts:
                self._collect(candidate.index, part.raw, part.kind, part.text, part.signature)
                if part.kind == "call":
                    self._recorder.call(part.call_id, part.name, part.args, part.signature)
            if candidate.finish_reason:
                self._finish[candidate.index] = candidate.finish_reason
                self._close_thought(candidate.index)
            extra = {k: v for k, v in raw.items() if k in ("groundingMetadata", "citationMetadata")}
            if extra:
                self._extra.setdefault(candidate.index, {}).update(extra)
        if isinstance(body.get("promptFeedback"), dict):
            self._blocked = body["promptFeedback"]
        return [{**body, "modelVersion": self.model}]

    def finish(self, *, truncated: bool) -> list[dict[str, Any]]:
        if self.finished:
            return []
        self.finished = True
        for index in list(self._thought):
            self._close_thought(index)
        if self._finish or self._blocked or not truncated:
            return []
        self.truncated = True
        self._finish[0] = "MAX_TOKENS"
        event: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": []},
                                                 "finishReason": "MAX_TOKENS", "index": 0}],
                                 "modelVersion": self.model}
        if self._usage_metadata:
            event["usageMetadata"] = dict(self._usage_metadata)
        if self.response_id:
            event["responseId"] = self.response_id
        return [event]

    def response(self) -> dict[str, Any]:
        """The whole answer as one ``GenerateContentResponse`` (call after :meth:`finish`)."""
        if not self.finished:
            raise RuntimeError("finish() must be called before response()")
        candidates = []
        for index in sorted(set(self._parts) | set(self._finish)):
            parts = [p.part() if isinstance(p, _TextRun) else p for p in self._parts.get(index, [])]
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
            if index in self._finish:
                candidate["finishReason"] = self._finish[index]
            candidate.update(self._extra.get(index, {}))
            candidates.append(candidate)
        out: dict[str, Any] = {"candidates": candidates}
        if self._blocked is not None:
            out["promptFeedback"] = self._blocked
        if self._usage_metadata:
            out["usageMetadata"] = dict(self._usage_metadata)
        out["modelVersion"] = self.model
        if self.response_id:
            out["responseId"] = self.response_id
        return out

    # ------------------------------------------------------------------------------------------ internals

    def _collect(self, index: int, raw: Mapping[str, Any], kind: str, text: str, signature: str | None) -> None:
        if kind == "thought":
            texts, previous = self._thought.get(index, ([], None))
            texts.append(text)
            self._thought[index] = (texts, signature or previous)
        else:
            self._close_thought(index)
        if signature and kind in ("text", "thought"):
            self._recorder.signature(signature)
        parts = self._parts.setdefault(index, [])
        last = parts[-1] if parts else None
        if kind in ("text", "thought"):
            if isinstance(last, _TextRun) and last.signature is None and last.thought == (kind == "thought"):
                last.fragments.append(text)  # joined once, in response(): no quadratic re-concatenation
                last.signature = signature
                return
            if not text and signature and last is not None and not _signed(last):
                parts[-1] = {**last, "thoughtSignature": signature}  # a carrier after a non-text part
                return
            parts.append(_TextRun(kind == "thought", [text], signature, raw))
        else:
            parts.append(dict(raw))

    def _close_thought(self, index: int) -> None:
        texts, signature = self._thought.pop(index, ([], None))
        if texts and signature:
            self._recorder.thought("".join(texts), signature)


class _TextRun:
    """Adjacent text (or thought) fragments being merged; closed by a signature."""

    __slots__ = ("fragments", "raw", "signature", "thought")

    def __init__(self, thought: bool, fragments: list[str], signature: str | None, raw: Mapping[str, Any]) -> None:
        self.thought = thought
        self.fragments = fragments
        self.signature = signature
        self.raw = raw

    def part(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.raw.items() if k not in ("text", "thoughtSignature",
                                                                                "thought_signature")}
        out["text"] = "".join(self.fragments)
        if self.signature:
            out["thoughtSignature"] = self.signature
        return out


def _signed(part: object) -> bool:
    return isinstance(part, _TextRun) or "thoughtSignature" in part or "thought_signature" in part  # type: ignore
