"""Token usage: read from upstream ``usageMetadata``, reported in each client dialect (upstream-protocol §3.7).

The upstream repeats ``usageMetadata`` on many stream events with *cumulative* values, and later events may omit
fields an earlier one had (Claude models send no ``thoughtsTokenCount``; early chunks lack
``candidatesTokenCount``). :meth:`Usage.update` therefore keeps, per field, the latest value present.

Reporting (open question §13 #14, decided here and tested):

* **OpenAI** (Chat and Responses): ``completion_tokens``/``output_tokens`` = visible + thinking tokens — OpenAI's
  own reasoning models count reasoning inside completion tokens — with ``reasoning_tokens`` = thinking;
  ``cached_tokens`` = implicit-cache hits; totals are the sum of the two sides (OpenAI's invariant).
* **Anthropic**: ``input_tokens`` = prompt − cached (Anthropic reports cache reads separately),
  ``cache_read_input_tokens`` = cached, ``output_tokens`` = visible + thinking (what is billed).
* **Gemini**: the upstream's own ``usageMetadata`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Usage"]

_FIELDS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount",
           "totalTokenCount")  # in the order of Usage's fields


class Usage(NamedTuple):
    """Token counts of one response. A NamedTuple: one is built per stream event that carries usage."""

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached: int = 0
    total: int = 0
    seen: bool = False  # whether any usageMetadata arrived at all

    def update(self, metadata: object) -> Usage:
        """This usage with the fields present in ``metadata`` (an upstream ``usageMetadata``) taking over."""
        if not isinstance(metadata, Mapping):
            return self
        values = [self.prompt, self.candidates, self.thoughts, self.cached, self.total, True]
        changed = False
        for i, key in enumerate(_FIELDS):
            value = metadata.get(key)
            if type(value) is int and value >= 0:
                values[i] = value
                changed = True
        return Usage._make(values) if changed else self

    @property
    def output(self) -> int:
        """Everything the model generated: visible answer plus thinking."""
        return self.candidates + self.thoughts

    @property
    def uncached_prompt(self) -> int:
        return max(0, self.prompt - self.cached)

    def openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.output,
            "total_tokens": self.prompt + self.output,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.thoughts},
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt,
            "input_tokens_details": {"cached_tokens": self.cached, "cache_write_tokens": 0},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.thoughts},
            "total_tokens": self.prompt + self.output,
        }

    def anthropic(self) -> dict[str, Any]:
        return {
            "input_tokens": self.uncached_prompt,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cached,
            "cache_creation_input_tokens": 0,
        }

    def gemini(self) -> dict[str, Any]:
        out = {"promptTokenCount": self.prompt, "candidatesTokenCount": self.candidates,
               "totalTokenCount": self.total or self.prompt + self.output}
        if self.thoughts:
            out["thoughtsTokenCount"] = self.thoughts
        if self.cached:
            out["cachedContentTokenCount"] = self.cached
        return out
