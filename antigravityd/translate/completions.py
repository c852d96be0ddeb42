"""Legacy OpenAI Completions (``POST /v1/completions``) on top of the Chat translators.

A completion is a chat with one user message: the request becomes a Chat body, and the Chat stream translator's
chunks and completion are reshaped into ``text_completion`` objects. Reasoning and tool calls have no place in
this format and are left out; batches of prompts and token-array prompts are refused.
"""

from __future__ import annotations

from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.openai_chat import chat_request_to_upstream

__all__ = ["completion_chunk", "completion_from_chat", "completions_request_to_upstream"]

_PASSED = ("max_tokens", "temperature", "top_p", "n", "stop", "user")


def completions_request_to_upstream(body: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ClientError("prompt must be a string (batches and token arrays are not supported)", param="prompt")
    chat = {key: body[key] for key in _PASSED if key in body}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat_request_to_upstream(chat, route, ctx)


def completion_chunk(chat_chunk: dict[str, Any]) -> dict[str, Any] | None:
    """A ``text_completion`` stream chunk from a Chat chunk, or None when it has nothing for this format."""
    out = {k: chat_chunk[k] for k in ("id", "created", "model")} | {"object": "text_completion"}
    if "usage" in chat_chunk:
        return out | {"choices": [], "usage": chat_chunk["usage"]}
    choices = []
    for choice in chat_chunk.get("choices", []):
        text = choice.get("delta", {}).get("content") or ""
        if text or choice.get("finish_reason"):
            choices.append({"text": text, "index": choice["index"], "logprobs": None,
                            "finish_reason": _finish(choice.get("finish_reason"))})
    return out | {"choices": choices} if choices else None


def completion_from_chat(completion: dict[str, Any]) -> dict[str, Any]:
    """The non-stream ``text_completion`` from a ``chat.completion``."""
    choices = [{"text": c["message"].get("content") or "", "index": c["index"], "logprobs": None,
                "finish_reason": _finish(c.get("finish_reason"))} for c in completion["choices"]]
    return {"id": completion["id"], "object": "text_completion", "created": completion["created"],
            "model": completion["model"], "choices": choices, "usage": completion["usage"]}


def _finish(reason: str | None) -> str | None:
    return "stop" if reason == "tool_calls" else reason
