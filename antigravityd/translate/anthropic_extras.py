"""Claude Code niceties that decide *whether and where* a Messages request goes (seed-features §1.1.1).

* **Warmup probes.** Claude Code sends tiny "Warmup" requests to pre-load caches; answering them locally saves a
  quota unit per session for no loss (:func:`is_warmup`, :func:`warmup_events`, :func:`warmup_message`).
* **Background tasks.** Title generation and short summaries need no frontier model; when the operator names a
  cheap one (``clients.background_model``), :func:`background_task` recognises them so they can be routed there.

All pure; nothing here reads the clock or keeps content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "WARMUP_TEXT",
    "background_task",
    "is_warmup",
    "warmup_events",
    "warmup_message",
]

WARMUP_TEXT = "Warmup"
WARMUP_REPLY = "OK"
_REMINDER = "<system-reminder>"
_BACKGROUND_MAX_CHARS = 800
_BACKGROUND_PATTERNS: tuple[tuple[str, str], ...] = (
    ("title", "write a 5-10 word title"),
    ("title", "generate a concise title"),
    ("title", "a short title for"),
    ("title", "summarize this conversation in a title"),
    ("summary", "in under 50 characters"),
    ("summary", "summarize the following in"),
    ("summary", "one-line summary"),
    ("topic", "is this a new conversation topic"),
    ("topic", "analyze if this message indicates a new conversation topic"),
)


def _user_texts(message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    texts = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block, dict) and block.get("type") == "tool_result" and block.get("is_error") is True:
            inner = block.get("content")
            if isinstance(inner, str):
                texts.append(inner)
    return texts


def _last_user(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    return last if isinstance(last, dict) and last.get("role") == "user" else None


def is_warmup(body: Mapping[str, Any]) -> bool:
    """The last message is a user message whose text (system reminders aside) is just "Warmup"."""
    last = _last_user(body)
    if last is None:
        return False
    texts = [t.strip() for t in _user_texts(last) if t.strip() and not t.lstrip().startswith(_REMINDER)]
    if len(texts) != 1:
        return False
    text = texts[0]
    return text == WARMUP_TEXT or (text.startswith(WARMUP_TEXT + "\n") and len(text) < 100)


def warmup_message(model: str, message_id: str) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": WARMUP_REPLY}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 1, "cache_read_input_tokens": 0,
                      "cache_creation_input_tokens": 0}}


def warmup_events(model: str, message_id: str) -> list[tuple[str, dict[str, Any]]]:
    message = warmup_message(model, message_id)
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 0}}
    return [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": WARMUP_REPLY}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": message["usage"]}),
        ("message_stop", {"type": "message_stop"}),
    ]


def background_task(body: Mapping[str, Any]) -> str | None:
    """``"title"``/``"summary"``/``"topic"`` when the request is one of Claude Code's side tasks, else None.

    Only tool-less requests qualify (a request with tools is the agent itself), and only when the last user text
    is short and starts with a known instruction — a long or tool-using conversation is never downgraded.
    """
    if body.get("tools"):
        return None
    last = _last_user(body)
    if last is None:
        return None
    texts = [t for t in _user_texts(last) if not t.lstrip().startswith(_REMINDER)]
    text = "\n".join(texts).strip()
    system = body.get("system")
    system_text = system if isinstance(system, str) else " ".join(
        b.get("text", "") for b in system if isinstance(b, dict)) if isinstance(system, list) else ""
    if not text or len(text) > _BACKGROUND_MAX_CHARS:
        return None
    haystack = (text[:500] + "\n" + system_text[:500]).lower()
    for kind, needle in _BACKGROUND_PATTERNS:
        if needle in haystack:
            return kind
    return None
