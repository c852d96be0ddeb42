"""Which signature-cache keys a request may look up, computed from the raw body before translation.

The daemon's cache keeps recent entries in memory and the rest in the store; translators read it synchronously,
so the API layer loads what a request can need first (``StoredSignatureCache.prefetch``). Only the most recent
assistant turns are considered: upstream validates the current turn, and older turns are served from memory or
fall back to the documented rules (§9.3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from antigravityd.translate.signature_cache import SignatureKind
from antigravityd.translate.signatures import content_key

__all__ = ["anthropic_keys", "responses_keys"]

RECENT_TURNS = 8

Key = tuple[SignatureKind, str]


def anthropic_keys(body: Mapping[str, Any], session_id: str | None) -> list[Key]:
    keys: list[Key] = []
    messages = body.get("messages")
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"] \
        if isinstance(messages, list) else []
    for message in reversed(assistants[-RECENT_TURNS:]):
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                keys.append(("tool_call", block["id"]))
            elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
                keys.append(("content", content_key(block["thinking"])))
    if session_id and assistants:  # a first turn replays nothing: no lookup at all
        keys.append(("session", session_id))
    return keys


def _responses_items(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    items = body.get("input")
    if isinstance(items, list):
        yield from (i for i in items if isinstance(i, dict))


def responses_keys(body: Mapping[str, Any], session_id: str | None) -> list[Key]:
    keys: list[Key] = []
    items = list(_responses_items(body))
    calls = [i for i in items if i.get("type") in ("function_call", "custom_tool_call")]
    for item in reversed(calls[-4 * RECENT_TURNS:]):
        if isinstance(item.get("call_id"), str):
            keys.append(("tool_call", item["call_id"]))
    reasoning = [i for i in items if i.get("type") == "reasoning"]
    for item in reversed(reasoning[-RECENT_TURNS:]):
        summary = item.get("summary")
        text = "".join(s.get("text", "") for s in summary if isinstance(s, dict)) if isinstance(summary, list) else ""
        if text:
            keys.append(("content", content_key(text)))
    if session_id and (calls or reasoning):
        keys.append(("session", session_id))
    return keys
