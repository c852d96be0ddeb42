"""Legacy OpenAI ``POST /v1/completions`` (a prompt in, text out) on the chat upstream.

The prompt becomes one user turn; the answer's visible text comes back as ``text_completion`` objects (streamed as
``data:`` chunks ending with ``data: [DONE]``). Thoughts and tool calls have no place in this API and are dropped.
``suffix`` (fill-in-the-middle) and token-id prompts cannot be expressed upstream and are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, generation_config, stop_sequences
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.upstream_events import read_chunk
from antigravityd.translate.usage import Usage

__all__ = ["CompletionRequest", "CompletionStreamTranslator", "translate_completion"]

MAX_CHOICES = 8
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


@dataclass
class CompletionRequest:
    route: ModelRoute
    ctx: TranslateContext
    prompt: str
    generation: dict[str, Any]
    echo: bool
    choices: int

    def rewrite_signatures(self) -> bool:
        return False  # one user turn: no history, no signatures

    @property
    def upstream_headers(self) -> dict[str, str]:
        return {}

    def envelope(self, project: str | None, request_id: str) -> dict[str, Any]:
        request = {"contents": [{"role": "user", "parts": [{"text": self.prompt}]}],
                   "generationConfig": self.generation}
        return build_envelope(request, self.route, replace(self.ctx, project=project, request_id=request_id))


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ClientError(f"{key} must be a number from {low:g} to {high:g}", param=key)
    return value


def translate_completion(body: Mapping[str, Any], route: ModelRoute, ctx: TranslateContext) -> CompletionRequest:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ClientError("prompt must be a string (or a list of exactly one string)", param="prompt")
    if not prompt.strip():
        raise ClientError("prompt must not be empty", param="prompt")
    if body.get("suffix"):
        raise ClientError("suffix (fill-in-the-middle) is not supported", param="suffix")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise ClientError(f"n must be an integer from 1 to {MAX_CHOICES}", param="n")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ClientError("max_tokens must be a positive integer", param="max_tokens")
    caps = ctx.caps(route)
    generation = generation_config(
        caps, thinking=ThinkingRequest(include_thoughts=False), max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0, 2), top_p=_number(body, "top_p", 0, 1),
        stop=stop_sequences(body.get("stop"), "stop"), candidate_count=n if route.family != "claude" else None)
    if route.family != "claude" and generation.get("thinkingConfig"):
        generation["thinkingConfig"]["includeThoughts"] = False
    return CompletionRequest(route, ctx, prompt, generation, body.get("echo") is True,
                             n if route.family != "claude" else 1)


class CompletionStreamTranslator:
    """Upstream events → ``text_completion`` chunks (dicts); :meth:`completion` is the non-streaming object."""

    def __init__(self, *, model: str, completion_id: str, created: int, prompt: str, echo: bool,
                 choices: int = 1) -> None:
        self.model = model
        self.id = completion_id
        self.created = created
        self.usage = Usage()
        self._texts = [[] for _ in range(choices)]  # type: list[list[str]]
        self._finish: list[str | None] = [None] * choices
        self._prompt = prompt if echo else ""
        self._echoed = not echo

    def _chunk(self, index: int, text: str, finish: str | None) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}]}

    def feed(self, event: object) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        chunk = read_chunk(event)
        self.usage = self.usage.update(chunk.usage)
        if not self._echoed:
            self._echoed = True
            for i in range(len(self._texts)):
                self._texts[i].append(self._prompt)
                out.append(self._chunk(i, self._prompt, None))
        for candidate in chunk.candidates:
            if candidate.index >= len(self._texts):
                continue
            if candidate.finish_reason:
                self._finish[candidate.index] = candidate.finish_reason
            text = "".join(p.text for p in candidate.parts if p.kind == "text" and p.text)
            if text:
                self._texts[candidate.index].append(text)
                out.append(self._chunk(candidate.index, text, None))
        return out

    def _reason(self, index: int, truncated: bool) -> str:
        return "length" if truncated else _FINISH.get(self._finish[index] or "STOP", "stop")

    def finish(self, *, truncated: bool) -> list[dict[str, Any]]:
        out = [self._chunk(i, "", self._reason(i, truncated)) for i in range(len(self._texts))]
        out[-1]["usage"] = self._usage()
        return out

    def _usage(self) -> dict[str, int]:
        u = self.usage
        return {"prompt_tokens": u.prompt, "completion_tokens": u.output, "total_tokens": u.prompt + u.output}

    def completion(self, *, truncated: bool = False) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "choices": [{"text": "".join(texts), "index": i, "logprobs": None,
                             "finish_reason": self._reason(i, truncated)} for i, texts in enumerate(self._texts)],
                "usage": self._usage()}
