"""Token counting: the upstream ``countTokens`` body for any translated request, and a local estimate.

The upstream ``countTokens`` RPC takes ``{"request": {contents, systemInstruction?, tools?}}`` and answers
``{"totalTokens": n}`` (upstream-protocol §1.3, §3.9, §13 #9). Any dialect's translated request can be counted:
translate the client's body as for generation, then :func:`count_tokens_body`. When the upstream cannot answer,
:func:`estimate_tokens` gives the usual rough figure (characters / 4, images at a flat rate), which Claude Code
tolerates.
"""

from __future__ import annotations

import json
from typing import Any

from antigravityd.translate.upstream_events import unwrap

__all__ = ["count_tokens_body", "estimate_tokens", "read_total_tokens"]

IMAGE_TOKENS = 258  # Gemini's flat count for an image up to 384 px; a fair middle for an estimate
_COUNTED = ("contents", "systemInstruction", "tools")


def count_tokens_body(request: dict[str, Any]) -> dict[str, Any]:
    """The ``countTokens`` body for an inner upstream request (generation settings are not part of a count)."""
    return {"request": {key: request[key] for key in _COUNTED if key in request}}


def read_total_tokens(body: object) -> int | None:
    """``totalTokens`` from a countTokens answer, at the top level or inside ``response``."""
    for candidate in (body, unwrap(body)):
        if isinstance(candidate, dict):
            total = candidate.get("totalTokens")
            if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                return total
    return None


def estimate_tokens(request: dict[str, Any]) -> int:
    """About how many tokens ``request`` (inner upstream request) holds: text/4, images flat, tools as JSON."""
    chars = 0
    images = 0
    for content in [*request.get("contents", []), request.get("systemInstruction") or {}]:
        for part in content.get("parts", []) if isinstance(content, dict) else []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                chars += len(part["text"])
            elif "inlineData" in part or "fileData" in part:
                images += 1
            else:
                chars += len(json.dumps(part, ensure_ascii=False, default=str))
    if request.get("tools"):
        chars += len(json.dumps(request["tools"], ensure_ascii=False, default=str))
    return (chars + 3) // 4 + images * IMAGE_TOKENS
