"""Thought-signature rules for replayed history (upstream-protocol §9.1, §9.3).

Every translator first builds upstream ``contents`` carrying whatever signatures the client sent back, then hands
them to :func:`apply_history_signatures`, which makes them acceptable to the target model family:

**Gemini targets.** The first ``functionCall`` of each replayed model turn must carry the signature the model issued
with it. Resolution order (§9.3): the client's own signature (unless we know it is another family's) → the
tool-call-id cache → the call-content cache → the last thought signature earlier in the same turn → the session
cache → the documented sentinel ``skip_thought_signature_validator``. Later parallel calls keep a signature only
when one is really known for them (Gemini issues one per turn; copying the first call's onto the others is not
what the model produced). Thought parts keep a non-foreign signature or recover one from the content cache; an
unsigned thought is dropped — Gemini ignores prior thoughts, and a thought with a foreign signature is a 400.

**Claude targets.** Anthropic verifies thinking signatures cryptographically, so the sentinel or a Gemini
signature is a 400 (never sent). A thinking part is kept only with a signature that is not known to be foreign
(cache → content cache); otherwise it is dropped. Function calls carry no signature (they need ids, which the
dialect translators guarantee). Thinking parts move to the front of their turn, as Anthropic requires.
:func:`claude_thinking_allowed` tells the caller when the history no longer allows thinking for this request.

:class:`SignatureRecorder` is the other half: stream translators feed it what the upstream sends, and the pipeline
persists its :class:`~antigravityd.translate.signature_cache.SeenSignature` records.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from antigravityd.translate.hygiene import normalize_contents
from antigravityd.translate.signature_cache import SENTINEL, SeenSignature, SignatureCache, usable_signature

__all__ = [
    "SignatureRecorder",
    "apply_history_signatures",
    "call_key",
    "claude_thinking_allowed",
    "content_key",
    "without_signatures",
]

MIN_CONTENT_LENGTH = 20  # thinking shorter than this is not worth a content-cache entry


def content_key(text: str) -> str:
    """Cache key of a thinking text: ``ch-`` + 16 hex of its sha256."""
    return "ch-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def call_key(name: object, args: object) -> str:
    """Cache key of a function call without an id: its name and canonical arguments."""
    try:
        canonical = json.dumps([name, args], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        canonical = repr(name)
    return "fc-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _other_family(family: str, signature: str, cache: SignatureCache) -> bool:
    known = cache.family_of(signature)
    return known is not None and known != family


def apply_history_signatures(
    contents: list[dict[str, Any]], *, family: str, session_id: str | None, cache: SignatureCache
) -> list[dict[str, Any]]:
    """Contents with signatures made valid for ``family`` (rules in the module docstring). Pure: returns new
    contents, leaves the input untouched; user turns pass through unchanged."""
    out: list[dict[str, Any]] = []
    for content in contents:
        if content.get("role") != "model":
            out.append(content)
            continue
        parts = _merge_thoughts(content.get("parts", []))
        parts = _for_claude(parts, cache) if family == "claude" else _for_gemini(parts, family, session_id, cache)
        out.append({**content, "parts": parts})
    return out


def _merge_thoughts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent thought parts are one thinking block (upstream streams the text and its signature separately)."""
    merged: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought") is True and merged and merged[-1].get("thought") is True and "functionCall" not in part:
            previous = merged[-1]
            text = str(previous.get("text", "")) + str(part.get("text", ""))
            signature = part.get("thoughtSignature") or previous.get("thoughtSignature")
            merged[-1] = {"text": text, "thought": True} | ({"thoughtSignature": signature} if signature else {})
        else:
            merged.append(part)
    return merged


def _thought_signature(part: dict[str, Any], family: str, cache: SignatureCache) -> str | None:
    signature = part.get("thoughtSignature")
    if usable_signature(signature) and not _other_family(family, signature, cache):
        return signature
    if signature == SENTINEL and family != "claude":
        return signature
    text = part.get("text")
    if isinstance(text, str) and text:
        return cache.get("content", content_key(text), family)
    return None


def _for_gemini(parts: list[dict[str, Any]], family: str, session_id: str | None,
                cache: SignatureCache) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    turn_signature: str | None = None
    first_call = True
    for part in parts:
        signature = part.get("thoughtSignature")
        if part.get("thought") is True:
            resolved = _thought_signature(part, family, cache)
            if resolved is None:
                continue
            out.append({**part, "thoughtSignature": resolved})
            turn_signature = resolved if usable_signature(resolved) else turn_signature
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            resolved = _call_signature(call, signature, family, cache)
            if resolved is None and first_call:
                resolved = turn_signature or (cache.get("session", session_id, family) if session_id else None)
                resolved = resolved or SENTINEL
            first_call = False
            bare = {k: v for k, v in part.items() if k != "thoughtSignature"}
            out.append(bare | ({"thoughtSignature": resolved} if resolved else {}))
        elif signature is not None:
            keep = usable_signature(signature) and not _other_family(family, signature, cache)
            out.append(part if keep else {k: v for k, v in part.items() if k != "thoughtSignature"})
            turn_signature = signature if keep else turn_signature
        else:
            out.append(part)
    return out


def _call_signature(call: dict[str, Any], signature: object, family: str, cache: SignatureCache) -> str | None:
    if signature == SENTINEL:
        return signature
    if usable_signature(signature) and not _other_family(family, signature, cache):
        return signature  # type: ignore[return-value]
    call_id = call.get("id")
    if isinstance(call_id, str) and call_id:
        found = cache.get("tool_call", call_id, family)
        if found:
            return found
    return cache.get("call", call_key(call.get("name"), call.get("args")), family)


def _for_claude(parts: list[dict[str, Any]], cache: SignatureCache) -> list[dict[str, Any]]:
    thoughts: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought") is True:
            resolved = _thought_signature(part, "claude", cache)
            if resolved is not None and isinstance(part.get("text"), str):
                thoughts.append({"text": part["text"], "thought": True, "thoughtSignature": resolved})
        else:
            rest.append({k: v for k, v in part.items() if k != "thoughtSignature"})
    return thoughts + rest


def claude_thinking_allowed(contents: list[dict[str, Any]]) -> bool:
    """Whether a Claude request with thinking enabled is acceptable for this history.

    Anthropic requires the assistant turn of an unfinished tool loop (the last user turn carries tool results) to
    start with a signed thinking block. When it does not — the client dropped it and we could not recover it —
    the request must go without thinking instead of failing with a 400.
    """
    if not contents:
        return True
    last = contents[-1]
    if last.get("role") != "user" or not any("functionResponse" in p for p in last.get("parts", [])):
        return True
    previous = contents[-2] if len(contents) >= 2 else None
    if previous is None or previous.get("role") != "model" or not previous.get("parts"):
        return True
    first = previous["parts"][0]
    return first.get("thought") is True and usable_signature(first.get("thoughtSignature"))


class SignatureRecorder:
    """Collects what a response's signatures can be found by next turn (see ``signature_cache``)."""

    def __init__(self, family: str, session_id: str | None) -> None:
        self.family = family
        self.session_id = session_id
        self.seen: list[SeenSignature] = []
        self.last_signature: str | None = None

    def signature(self, signature: object) -> bool:
        """Any signature the response carried; it becomes the session's latest. Returns whether it is usable."""
        if not usable_signature(signature):
            return False
        self.last_signature = signature  # type: ignore[assignment]
        if self.session_id:
            self._add("session", self.session_id, signature)  # type: ignore[arg-type]
        return True

    def call(self, call_id: str | None, name: object, args: object, signature: object) -> None:
        if not self.signature(signature):
            return
        if call_id:
            self._add("tool_call", call_id, signature)  # type: ignore[arg-type]
        self._add("call", call_key(name, args), signature)  # type: ignore[arg-type]

    def thought(self, text: str, signature: object) -> None:
        """A complete thinking text and the signature that closed it."""
        if self.signature(signature) and len(text) >= MIN_CONTENT_LENGTH:
            self._add("content", content_key(text), signature)  # type: ignore[arg-type]

    def _add(self, kind: str, key: str, signature: str) -> None:
        self.seen.append(SeenSignature(kind, key, signature, self.family))  # type: ignore[arg-type]


def without_signatures(request: dict[str, Any], family: str) -> dict[str, Any]:
    """The request rewritten for the one retry after an upstream signature error (§9.3, last paragraph).

    Gemini targets: thought parts go, every replayed call carries the sentinel (which Gemini always accepts).
    Claude targets: thought parts go and thinking is switched off (the sentinel is never valid for Claude).
    Pure: returns a new request.
    """
    contents = []
    for content in request.get("contents", []):
        if content.get("role") != "model":
            contents.append(content)
            continue
        parts = []
        for part in content.get("parts", []):
            if part.get("thought") is True:
                continue
            bare = {k: v for k, v in part.items() if k != "thoughtSignature"}
            if family != "claude" and "functionCall" in part:
                bare["thoughtSignature"] = SENTINEL
            parts.append(bare)
        contents.append({**content, "parts": parts})
    out = {**request, "contents": normalize_contents(contents, family)}
    config = request.get("generationConfig")
    if family == "claude" and isinstance(config, dict) and "thinkingConfig" in config:
        out["generationConfig"] = {k: v for k, v in config.items() if k != "thinkingConfig"}
    return out
