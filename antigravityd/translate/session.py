"""Session ids: one stable id per conversation, derived from the request alone (upstream-protocol §9.5).

The id keys sticky routing (same conversation → same account, so the upstream prompt cache stays warm) and the
thought-signature session cache, and it is sent upstream as ``request.sessionId``. Clients do not send one, so we
derive it from what stays constant over a conversation: the first *substantial* user text (more than 10
characters, not a ``<system-reminder>`` block that agents inject into many conversations alike). Every later turn
of the same conversation repeats that text, so it hashes to the same ``sid-<16 hex>``.

Fallbacks, in order: all user texts together (a conversation of short messages), then the first message as
canonical JSON (image-only prompts). Only a hash leaves this module — never the text.

These functions never raise: they run before validation and must cope with malformed bodies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "anthropic_session_id",
    "gemini_session_id",
    "openai_session_id",
    "responses_session_id",
    "session_id_from_texts",
]

_MIN_TEXT = 10
_REMINDER = "<system-reminder>"


def session_id_from_texts(user_texts: Iterable[str], fallback: object = None) -> str:
    """``sid-`` + 16 hex of sha256 over the first substantial user text, with the fallbacks above."""
    seen: list[str] = []
    for text in user_texts:
        stripped = text.strip()
        if len(stripped) > _MIN_TEXT and _REMINDER not in stripped:
            return _sid(stripped)
        if stripped:
            seen.append(stripped)
    if seen:
        return _sid("\n".join(seen))
    try:
        canonical = json.dumps(fallback, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        canonical = repr(type(fallback))
    return _sid(canonical)


def _sid(text: str) -> str:
    return "sid-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def openai_session_id(body: Any) -> str:
    messages = _list(body.get("messages")) if isinstance(body, dict) else []
    texts = (t for m in messages if isinstance(m, dict) and m.get("role") == "user" for t in _texts(m.get("content")))
    return session_id_from_texts(texts, messages[:1])


def gemini_session_id(body: Any) -> str:
    contents = _list(body.get("contents")) if isinstance(body, dict) else []
    texts = (
        part["text"]
        for c in contents
        if isinstance(c, dict) and c.get("role", "user") == "user"
        for part in _list(c.get("parts"))
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )
    return session_id_from_texts(texts, contents[:1])


def anthropic_session_id(body: Any) -> str:
    """Claude Code names its conversation in ``metadata.user_id`` (a JSON string with ``session_id`` in current
    versions, ``user_…_session_<uuid>`` in older ones); use that when present, else the text rule."""
    if not isinstance(body, dict):
        return session_id_from_texts((), None)
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        session = _json_session(user_id)
        if session:
            return _sid(session)
        if "session" in user_id:
            return _sid(user_id)
    messages = _list(body.get("messages"))
    texts = (t for m in messages if isinstance(m, dict) and m.get("role") == "user" for t in _texts(m.get("content")))
    return session_id_from_texts(texts, messages[:1])


def responses_session_id(body: Any) -> str:
    """Codex names its conversation in ``prompt_cache_key``; use that when present, else the text rule."""
    if not isinstance(body, dict):
        return session_id_from_texts((), None)
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return _sid(key)
    items = body.get("input")
    if isinstance(items, str):
        return session_id_from_texts([items], items)
    items = _list(items)
    texts = (
        t
        for item in items
        if isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message"
        for t in _texts(item.get("content"))
    )
    return session_id_from_texts(texts, items[:1])


def _json_session(user_id: str) -> str | None:
    if not user_id.startswith("{"):
        return None
    try:
        decoded = json.loads(user_id)
    except ValueError:
        return None
    session = decoded.get("session_id") if isinstance(decoded, dict) else None
    return session if isinstance(session, str) and session else None


def _texts(content: object) -> Iterator[str]:
    """Text of a message content in any dialect: a string, or blocks of type text/input_text."""
    if isinstance(content, str):
        yield content
        return
    for block in _list(content):
        if isinstance(block, dict) and block.get("type") in ("text", "input_text") and isinstance(
                block.get("text"), str):
            yield block["text"]


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
