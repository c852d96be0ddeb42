"""Reading one upstream response object — an SSE event or a whole ``generateContent`` body (upstream-protocol §3).

Every dialect's stream translator starts here, so the tolerance rules live in one place: the ``response`` wrapper is
optional (``body.response ?? body``), camelCase and snake_case spellings are both read, a part we do not understand
is kept as ``other``, and malformed pieces (a ``functionCall`` without a name, args that are not an object) are
skipped rather than raised: junk from the upstream is not the client's fault and must not become a 4xx, nor crash
the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Candidate", "Chunk", "Part", "is_meaningful", "read_chunk", "unwrap"]

PartKind = Literal["text", "thought", "call", "image", "other"]


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    text: str = ""
    signature: str | None = None
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None
    mime: str = ""
    data: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    parts: tuple[Part, ...]
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class Chunk:
    candidates: tuple[Candidate, ...]
    usage: dict[str, Any] | None
    response_id: str | None
    model_version: str | None
    blocked: str | None  # promptFeedback.blockReason: the prompt itself was refused, no candidates follow


def unwrap(obj: object) -> dict[str, Any]:
    """The ``GenerateContentResponse`` inside the Cloud Code wrapper (or the object itself when unwrapped)."""
    if not isinstance(obj, dict):
        return {}
    inner = obj.get("response")
    return inner if isinstance(inner, dict) else obj


def read_chunk(obj: object) -> Chunk:
    body = unwrap(obj)
    candidates = []
    raw_candidates = body.get("candidates")
    for position, raw in enumerate(raw_candidates if isinstance(raw_candidates, list) else []):
        if not isinstance(raw, dict):
            continue
        index = raw.get("index")
        index = index if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 64 else position
        content = raw.get("content")
        raw_parts = content.get("parts") if isinstance(content, dict) else None
        parts = tuple(p for p in (_part(rp) for rp in (raw_parts if isinstance(raw_parts, list) else [])) if p)
        reason = _get(raw, "finishReason", "finish_reason")
        candidates.append(Candidate(index, parts, reason if isinstance(reason, str) and reason else None))
    usage = _get(body, "usageMetadata", "usage_metadata")
    feedback = _get(body, "promptFeedback", "prompt_feedback")
    blocked = _get(feedback, "blockReason", "block_reason") if isinstance(feedback, dict) else None
    response_id = _get(body, "responseId", "response_id")
    model_version = _get(body, "modelVersion", "model_version")
    return Chunk(
        candidates=tuple(candidates),
        usage=usage if isinstance(usage, dict) else None,
        response_id=response_id if isinstance(response_id, str) and response_id else None,
        model_version=model_version if isinstance(model_version, str) else None,
        blocked=blocked if isinstance(blocked, str) and blocked else None,
    )


def is_meaningful(obj: object) -> bool:
    """Whether an event carries anything a client would see (parts, a finish, a blocked prompt).

    The pipeline's *peek* waits for the first such event before committing a response to the client; events
    with only usage or nothing at all are heartbeats.
    """
    chunk = read_chunk(obj)
    if chunk.blocked:
        return True
    return any(c.finish_reason or any(p.kind != "text" or p.text or p.signature for p in c.parts)
               for c in chunk.candidates)


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _part(raw: object) -> Part | None:
    if not isinstance(raw, dict):
        return None
    signature = _get(raw, "thoughtSignature", "thought_signature")
    signature = signature if isinstance(signature, str) and signature else None
    call = _get(raw, "functionCall", "function_call")
    if isinstance(call, dict):
        name = call.get("name")
        if not isinstance(name, str) or not name:
            return None
        args = call.get("args")
        call_id = call.get("id")
        return Part("call", name=name, args=args if isinstance(args, dict) else {}, signature=signature,
                    call_id=call_id if isinstance(call_id, str) and call_id else None, raw=raw)
    text = raw.get("text")
    if isinstance(text, str):
        kind: PartKind = "thought" if raw.get("thought") is True else "text"
        return Part(kind, text=text, signature=signature, raw=raw)
    inline = _get(raw, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = _get(inline, "mimeType", "mime_type")
        data = inline.get("data")
        if isinstance(data, str) and data:
            return Part("image", mime=mime if isinstance(mime, str) and mime else "image/png", data=data,
                        signature=signature, raw=raw)
        return None
    if raw.get("thought") is True and signature:  # signature carrier without a text field
        return Part("thought", text="", signature=signature, raw=raw)
    return Part("other", signature=signature, raw=raw)
