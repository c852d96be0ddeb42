"""Recognising Claude Code's side traffic in an Anthropic request (seed-features §1.1.1).

* **Warmup probes**: Claude Code sends ``Warmup`` requests at start; answering them locally saves quota. The API
  layer answers with an ``OK`` message by feeding :data:`WARMUP_REPLY` into an ``AnthropicStreamTranslator``.
* **Background tasks**: title generation, short summaries, prompt suggestions — small requests an operator may
  route to a cheaper model (``clients.background_model``). :func:`background_task` names the kind, or None.

Both look only at the last user message, and only at its beginning, so their cost does not grow with the
conversation.
"""

from __future__ import annotations

__all__ = ["WARMUP_REPLY", "background_task", "is_warmup"]

WARMUP_REPLY = {"candidates": [{"content": {"role": "model", "parts": [{"text": "OK"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 0, "candidatesTokenCount": 1, "totalTokenCount": 1}}
"""An upstream-shaped reply to feed a stream translator for a locally answered warmup."""

_MAX_BACKGROUND_TEXT = 800
_SEARCHED = 500
_KEYWORDS = {
    "title": ("write a 5-10 word title", "generate a title for", "conversation title", "a title for this"),
    "summary": ("summarize this coding conversation", "in under 50 characters", "compress the context",
                "write a short summary"),
    "suggestion": ("prompt suggestion generator", "suggest next prompts", "suggest the next prompt"),
}


def _last_user_texts(body: object) -> list[str] | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return [content]
    texts = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result" and block.get("is_error") is True:
            inner = block.get("content")
            if isinstance(inner, str):
                texts.append(inner)
    return texts


def is_warmup(body: object) -> bool:
    """The last message is Claude Code's ``Warmup`` probe."""
    texts = _last_user_texts(body)
    if not texts:
        return False
    if len(texts) == 1 and texts[0].strip() == "Warmup" and len(texts[0]) < 100:
        return True
    return any(t == "Warmup" or t.startswith("Warmup\n") for t in texts)


def background_task(body: object) -> str | None:
    """``"title"``, ``"summary"`` or ``"suggestion"`` when the request is one of Claude Code's side tasks."""
    texts = _last_user_texts(body)
    if not texts:
        return None
    text = "\n".join(t for t in texts if "<system-reminder>" not in t)
    if not text or len(text) > _MAX_BACKGROUND_TEXT:
        return None
    head = text[:_SEARCHED].lower()
    for kind, phrases in _KEYWORDS.items():
        if any(p in head for p in phrases):
            return kind
    return None
