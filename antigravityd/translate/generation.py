"""``generationConfig`` rules shared by every dialect (upstream-protocol §2.6, §11.2–§11.4, §13 #3–#5).

Each dialect reads its own knobs into dialect-neutral values — a :class:`ThinkingRequest`, ``max_tokens``, stop
sequences, sampling parameters — and :func:`generation_config` turns them into the upstream's fields for the
target model, so the model-specific rules exist once:

* **Thinking.** Gemini 3 gets ``thinkingLevel`` only when the client asked for a *level* (OpenAI
  ``reasoning_effort``, Gemini ``thinkingLevel``, Anthropic ``effort``), mapped onto the levels the model accepts;
  a *budget* stays a clamped ``thinkingBudget``. Other models get budgets (effort → budget table). ``-1``
  ("dynamic") is never sent — the upstream rejects it on some paths; we leave the budget out instead, which means
  the model's default. Claude ``-thinking`` ids think by default (16 000 tokens); Gemini models show their thoughts
  (``includeThoughts``) unless the client says otherwise. Models without thinking support get no thinkingConfig.
* **Output limit.** ``maxOutputTokens`` is clamped to the model's cap (the upstream 400s above it), Claude always gets
  one (Anthropic requires ``max_tokens``), and it must exceed the thinking budget: when it does not, it is raised to
  budget + 8 192 within the cap, and if the cap is too small the budget is lowered instead.
* **Stops.** At most 5 stop sequences (Gemini's limit), de-duplicated, empty strings dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import ModelCaps

__all__ = [
    "DEFAULT_THINKING_BUDGET",
    "EFFORT_BUDGETS",
    "ThinkingRequest",
    "generation_config",
    "number_param",
    "output_limit",
    "stop_sequences",
    "thinking_config",
]

DEFAULT_THINKING_BUDGET = 16_000
THINKING_MIN_OVERHEAD = 8_192
MAX_STOP_SEQUENCES = 5
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24_576, "xhigh": 32_768, "max": 32_768}
_EFFORTS = frozenset({"none", *EFFORT_BUDGETS})


@dataclass(frozen=True, slots=True)
class ThinkingRequest:
    """What the client said about thinking, in no dialect.

    ``mode``: ``default`` (nothing said), ``off``, ``budget`` (a token budget) or ``effort`` (a level such as
    ``low``/``high``). ``include_thoughts`` is whether the client wants to see them.
    """

    mode: Literal["default", "off", "budget", "effort"] = "default"
    budget: int | None = None
    effort: str | None = None
    include_thoughts: bool = True

    @classmethod
    def from_effort(cls, effort: str, *, include_thoughts: bool = True) -> ThinkingRequest:
        effort = effort.lower()
        if effort == "none":
            return cls("off", include_thoughts=False)
        if effort not in _EFFORTS:
            return cls("default", include_thoughts=include_thoughts)
        return cls("effort", effort=effort, include_thoughts=include_thoughts)

    @classmethod
    def from_budget(cls, budget: int, *, include_thoughts: bool = True) -> ThinkingRequest:
        if budget == 0:
            return cls("off", include_thoughts=False)
        if budget < 0:  # -1 = "dynamic": the model's own default
            return cls("default", include_thoughts=include_thoughts)
        return cls("budget", budget=budget, include_thoughts=include_thoughts)


def thinking_config(request: ThinkingRequest, caps: ModelCaps) -> dict[str, Any] | None:
    """The upstream ``thinkingConfig`` for this request and model, or None for none at all."""
    if not caps.thinking:
        return None
    if caps.family == "claude":
        return _claude_thinking(request, caps)
    if request.mode == "off":
        if caps.levels:
            return {"includeThoughts": False, "thinkingLevel": caps.levels[0]}
        return {"includeThoughts": False, "thinkingBudget": caps.budget_min}
    if request.mode == "effort" and request.effort:
        if caps.levels:
            return {"includeThoughts": request.include_thoughts, "thinkingLevel": _level(request.effort, caps)}
        budget = _clamp(EFFORT_BUDGETS[request.effort], caps)
        return {"includeThoughts": request.include_thoughts, "thinkingBudget": budget}
    if request.mode == "budget" and request.budget is not None:
        return {"includeThoughts": request.include_thoughts, "thinkingBudget": _clamp(request.budget, caps)}
    if caps.thinking_by_default:
        return {"includeThoughts": request.include_thoughts,
                "thinkingBudget": _clamp(DEFAULT_THINKING_BUDGET, caps)}
    return {"includeThoughts": request.include_thoughts}


def _claude_thinking(request: ThinkingRequest, caps: ModelCaps) -> dict[str, Any] | None:
    if request.mode == "off":
        return None
    if request.mode == "budget" and request.budget is not None:
        budget = request.budget
    elif request.mode == "effort" and request.effort:
        budget = EFFORT_BUDGETS[request.effort]
    elif caps.thinking_by_default:
        budget = DEFAULT_THINKING_BUDGET
    else:
        return None
    # Without a budget Claude ignores includeThoughts and writes <thinking> tags into the text (§11.3).
    return {"includeThoughts": True, "thinkingBudget": _clamp(budget, caps)}


def _level(effort: str, caps: ModelCaps) -> str:
    if effort in caps.levels:
        return effort
    if effort in ("xhigh", "max"):
        return caps.levels[-1]
    order = ("minimal", "low", "medium", "high")
    wanted = order.index(effort) if effort in order else len(order) - 1
    # the nearest accepted level at or above the one asked for, else the highest
    return next((lvl for lvl in order[wanted:] if lvl in caps.levels), caps.levels[-1])


def _clamp(budget: int, caps: ModelCaps) -> int:
    low = max(caps.budget_min, 1)
    return max(low, min(budget, caps.budget_max)) if caps.budget_max else budget


def output_limit(max_tokens: int | None, thinking: dict[str, Any] | None,
                 caps: ModelCaps) -> tuple[int | None, dict[str, Any] | None]:
    """(``maxOutputTokens`` or None to leave the upstream default, the thinking config adjusted to fit it)."""
    limit = min(max_tokens, caps.max_output) if max_tokens is not None else None
    if limit is None and caps.family == "claude":
        limit = caps.max_output
    budget = thinking.get("thinkingBudget") if thinking else None
    if limit is None or not isinstance(budget, int) or budget <= 0 or limit > budget:
        return limit, thinking
    limit = min(caps.max_output, budget + THINKING_MIN_OVERHEAD)
    if limit <= budget:
        budget = max(1, limit - THINKING_MIN_OVERHEAD)
        thinking = {**thinking, "thinkingBudget": budget}  # type: ignore[dict-item]
    return limit, thinking


def stop_sequences(value: object, param: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise ClientError(f"{param} must be a string or a list of strings", param=param)
    stops = list(dict.fromkeys(s for s in items if s))
    return stops[:MAX_STOP_SEQUENCES] or None


def number_param(body: dict[str, Any], key: str, *, low: float, high: float, integer: bool = False,
                 param: str | None = None) -> float | int | None:
    """A numeric request field, validated: None when absent or null, else a ClientError naming the field."""
    value = body.get(key)
    if value is None:
        return None
    valid = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not valid or not low <= value <= high:  # NaN fails too
        kind = "an integer" if integer else "a number"
        raise ClientError(f"{param or key} must be {kind} between {low:g} and {high:g}", param=param or key)
    return value


def generation_config(
    caps: ModelCaps,
    *,
    thinking: ThinkingRequest,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    stop: list[str] | None = None,
    candidate_count: int | None = None,
) -> dict[str, Any]:
    """The upstream ``generationConfig`` (without response-format or image fields, which dialects add)."""
    config: dict[str, Any] = {}
    if temperature is not None:
        config["temperature"] = temperature
    if top_p is not None and top_p > 0:  # Gemini rejects 0; absent means the model default
        config["topP"] = top_p
    if top_k is not None:
        config["topK"] = top_k
    if candidate_count is not None and candidate_count > 1 and caps.family != "claude":  # Claude has no n
        config["candidateCount"] = candidate_count
    if stop:
        config["stopSequences"] = stop[:MAX_STOP_SEQUENCES]
    limit, think = output_limit(max_tokens, thinking_config(thinking, caps), caps)
    if limit is not None:
        config["maxOutputTokens"] = limit
    if think is not None:
        config["thinkingConfig"] = think
    return config
