"""Reading one upstream response object — an SSE event or a whole ``generateContent`` body (upstream-protocol §3).

Every dialect's stream translator starts here, so the tolerance rules live in one place: the ``response`` wrapper is
optional (``body.response ?? body``), camelCase and snake_case spellings are both read, a part we do not understand
is kept as ``other``, and malformed pieces (a ``functionCall`` without a name, args that are not an object) are
skipped rather than raised: junk from the upstream is not the client's fault and must not become a 4xx, nor crash
the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

__all__ = ["FILTERED_REASONS", "Candidate", "Chunk", "Part", "is_meaningful", "read_chunk", "unwrap"]

FILTERED_REASONS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                              "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
"""Finish reasons that mean the output was withheld for policy reasons."""

PartKind = Literal["text", "thought", "call", "image", "other"]
_NO_ARGS: Mapping[str, Any] = MappingProxyType({})

# NamedTuples, not dataclasses: one of each is built per part of every stream event, and tuple construction is
# several times cheaper than a frozen dataclass's __init__.


class Part(NamedTuple):
    kind: PartKind
    text: str = ""
    signature: str | None = None
    name: str = ""
    args: Mapping[str, Any] = _NO_ARGS
    call_id: str | None = None
    mime: str = ""
    data: str = ""
    raw: Mapping[str, Any] = _NO_ARGS


class Candidate(NamedTuple):
    index: int
    parts: tuple[Part, ...]
    finish_reason: str | None


class Chunk(NamedTuple):
    candidates: tuple[Candidate, ...]
    usage: dict[str, Any] | None
    response_id: str | None
    model_version: str | None
    blocked: str | None  # promptFeedback.blockReason: the prompt itself was refused, no candidates follow


# C-level constructors (skip the NamedTuples' Python-level __new__): all fields are always given positionally.
_tuple_new = tuple.__new__


def _new_part(kind: PartKind, *, text: str = "", signature: str | None = None, name: str = "",
              args: Mapping[str, Any] = _NO_ARGS, call_id: str | None = None, mime: str = "", data: str = "",
              raw: Mapping[str, Any] = _NO_ARGS) -> Part:
    return _tuple_new(Part, (kind, text, signature, name, args, call_id, mime, data, raw))


def unwrap(obj: object) -> dict[str, Any]:
    """The ``GenerateContentResponse`` inside the Cloud Code wrapper (or the object itself when unwrapped)."""
    if not isinstance(obj, dict):
        return {}
    inner = obj.get("response")
    return inner if isinstance(inner, dict) else obj


def read_chunk(obj: object) -> Chunk:
    # Hot path (every stream event): exact type checks and inline lookups, no helper calls per field.
    body = unwrap(obj)
    candidates: tuple[Candidate, ...] = ()
    raw_candidates = body.get("candidates")
    if type(raw_candidates) is list:
        found = []
        for position, raw in enumerate(raw_candidates):
            if type(raw) is not dict:
                continue
            index = raw.get("index", position)
            if type(index) is not int or not 0 <= index < 64:
                index = position
            content = raw.get("content")
            raw_parts = content.get("parts") if type(content) is dict else None
            parts = tuple([p for p in map(_part, raw_parts) if p is not None]) if type(raw_parts) is list else ()
            reason = raw.get("finishReason") or raw.get("finish_reason")
            found.append(_tuple_new(Candidate, (index, parts, reason if type(reason) is str else None)))
        candidates = tuple(found)
    usage = body.get("usageMetadata") or body.get("usage_metadata")
    feedback = body.get("promptFeedback") or body.get("prompt_feedback")
    blocked = (feedback.get("blockReason") or feedback.get("block_reason")) if type(feedback) is dict else None
    response_id = body.get("responseId") or body.get("response_id")
    model_version = body.get("modelVersion") or body.get("model_version")
    return _tuple_new(Chunk, (
        candidates,
        usage if type(usage) is dict else None,
        response_id if type(response_id) is str else None,
        model_version if type(model_version) is str else None,
        blocked if type(blocked) is str else None,
    ))


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
    text = raw.get("text")
    if type(text) is str and len(raw) == 1:  # the common case: a plain text fragment
        return _tuple_new(Part, ("text", text, None, "", _NO_ARGS, None, "", "", raw))
    signature = _get(raw, "thoughtSignature", "thought_signature")
    signature = signature if isinstance(signature, str) and signature else None
    call = _get(raw, "functionCall", "function_call")
    if isinstance(call, dict):
        name = call.get("name")
        if not isinstance(name, str) or not name:
            return None
        args = call.get("args")
        call_id = call.get("id")
        return _new_part("call", name=name, args=args if isinstance(args, dict) else {}, signature=signature,
                    call_id=call_id if isinstance(call_id, str) and call_id else None, raw=raw)
    if isinstance(text, str):
        kind: PartKind = "thought" if raw.get("thought") is True else "text"
        return _new_part(kind, text=text, signature=signature, raw=raw)
    inline = _get(raw, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = _get(inline, "mimeType", "mime_type")
        data = inline.get("data")
        if isinstance(data, str) and data:
            return _new_part("image", mime=mime if isinstance(mime, str) and mime else "image/png", data=data,
                        signature=signature, raw=raw)
        return None
    if raw.get("thought") is True and signature:  # signature carrier without a text field
        return _new_part("thought", text="", signature=signature, raw=raw)
    return _new_part("other", signature=signature, raw=raw)
