"""Model-list bodies: OpenAI ``/v1/models`` and Gemini ``/v1beta/models`` (upstream-protocol §7.3).

The listed names are what clients may send: the ids the accounts report, our default ids, the built-in aliases,
the operator's exact mapping keys (wildcards are not names) and the suffix variants of image models — minus the
upstream's internal ids. Pure builders; the API layer gathers the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from antigravityd.translate.models import (
    BUILTIN_ALIASES,
    DEFAULT_MODELS,
    ModelCaps,
    image_variants,
    is_listable,
    model_caps,
)

__all__ = ["LISTING_CREATED", "gemini_model", "gemini_models", "listed_model_ids", "openai_model", "openai_models"]

LISTING_CREATED = 1706745600  # a fixed date: clients sort and cache by it, a moving value only confuses them
_GEMINI_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


def listed_model_ids(reported: Iterable[str], mappings: Mapping[str, str] | None = None) -> list[str]:
    ids = {m for m in reported if isinstance(m, str)} | set(DEFAULT_MODELS) | set(BUILTIN_ALIASES)
    ids |= {name for name in mappings or {} if "*" not in name}
    image_bases = sorted(m for m in ids if model_caps(m).image_output and m.endswith("-image"))
    ids |= set(image_variants(image_bases))
    return sorted(m for m in ids if is_listable(m))


def openai_model(model_id: str, created: int = LISTING_CREATED) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "antigravity"}


def openai_models(ids: Iterable[str], created: int = LISTING_CREATED) -> dict[str, Any]:
    return {"object": "list", "data": [openai_model(m, created) for m in ids]}


def gemini_model(name: str, caps: ModelCaps) -> dict[str, Any]:
    """One Gemini ``Model`` object; ``caps`` are those of the upstream model ``name`` routes to."""
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "inputTokenLimit": caps.context_window,
        "outputTokenLimit": caps.max_output,
        "supportedGenerationMethods": list(_GEMINI_METHODS),
        "thinking": caps.thinking,
    }


def gemini_models(entries: Iterable[tuple[str, ModelCaps]]) -> dict[str, Any]:
    return {"models": [gemini_model(name, caps) for name, caps in entries]}
