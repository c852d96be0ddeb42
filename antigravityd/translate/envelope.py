"""The Cloud Code ``v1internal`` envelope around a translated request (upstream-protocol §2.1, §2.4, §11.1, §11.7–8).

Dialect translators produce the inner ``request`` (a Vertex ``GenerateContentRequest``); :func:`build_envelope`
wraps it and applies what depends only on the route: the request type, the Antigravity identity system prompt,
the image-generation and web-search shapes, and the session id.
"""

from __future__ import annotations

from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.models import ModelRoute

__all__ = ["IDENTITY_PROMPT", "build_envelope", "request_type", "system_instruction"]

IDENTITY_PROMPT = (
    "You are Antigravity, a powerful agentic AI coding assistant designed by the Google Deepmind team working on "
    "Advanced Agentic Coding.\n"
    "You are pair programming with a USER to solve their coding task. The task may require creating a new "
    "codebase, modifying or debugging an existing codebase, or simply answering a question.\n"
    "**Absolute paths only**\n"
    "**Proactiveness**"
)
_IDENTITY_MARKER = "You are Antigravity"


def system_instruction(texts: list[str]) -> dict[str, Any] | None:
    """A ``systemInstruction`` Content from system texts (empty ones dropped), or None when there are none."""
    parts = [{"text": t} for t in texts if isinstance(t, str) and t.strip()]
    return {"role": "user", "parts": parts} if parts else None


def request_type(request: dict[str, Any], route: ModelRoute) -> str:
    if route.request_type == "image_gen":
        return "image_gen"
    if route.request_type == "web_search":
        return "web_search"
    tools = request.get("tools") or []
    if any(isinstance(t, dict) and ("googleSearch" in t or "googleSearchRetrieval" in t) for t in tools):
        return "web_search"
    return "agent"


def build_envelope(request: dict[str, Any], route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    """``{project, model, userAgent, requestType, requestId, request}``; ``request`` is copied, not modified."""
    kind = request_type(request, route)
    inner = dict(request)
    if kind == "image_gen":
        _image_request(inner, route)
    else:
        if kind == "web_search":
            _web_search_request(inner)
        if ctx.inject_identity:
            inner["systemInstruction"] = _with_identity(inner.get("systemInstruction"))
    if ctx.session_id:
        inner["sessionId"] = ctx.session_id
    envelope: dict[str, Any] = {}
    if ctx.project:
        envelope["project"] = ctx.project
    envelope.update(model=route.upstream, userAgent="antigravity", requestType=kind, requestId=ctx.request_id,
                    request=inner)
    return envelope


def _with_identity(system: object) -> dict[str, Any]:
    """The identity prompt as the first system part, unless the client's system text already carries it."""
    parts = list(system.get("parts", [])) if isinstance(system, dict) else []
    if any(_IDENTITY_MARKER in str(p.get("text", "")) for p in parts if isinstance(p, dict)):
        return {"role": "user", "parts": parts}
    return {"role": "user", "parts": [{"text": IDENTITY_PROMPT}, *parts]}


def _image_request(inner: dict[str, Any], route: ModelRoute) -> None:
    """Image models take no system prompt, tools or thinking, and one candidate (§11.7)."""
    for key in ("systemInstruction", "tools", "toolConfig"):
        inner.pop(key, None)
    config = dict(inner.get("generationConfig") or {})
    for key in ("thinkingConfig", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities"):
        config.pop(key, None)
    config["candidateCount"] = 1
    if route.image is not None and route.image.to_upstream():
        config["imageConfig"] = {**route.image.to_upstream(), **(config.get("imageConfig") or {})}
    inner["generationConfig"] = config


def _web_search_request(inner: dict[str, Any]) -> None:
    """Grounding cannot be mixed with function declarations (upstream 400), so search replaces them (§2.5)."""
    inner["tools"] = [{"googleSearch": {}}]
    inner.pop("toolConfig", None)
