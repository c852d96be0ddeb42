"""Pure parsing of the account bootstrap RPCs (upstream-protocol.md §6): loadCodeAssist, onboardUser and
fetchAvailableModels. The client calls these on the JSON it received; tests call them on captured shapes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .durations import parse_rfc3339

__all__ = [
    "CodeAssistInfo", "ModelCatalog", "ModelInfo", "onboarding_tier", "parse_available_models",
    "parse_load_code_assist", "project_from_operation",
]

# Ids the IDE uses internally (autocomplete, tab, chat plumbing); never offered to clients (§6.3).
_INTERNAL = re.compile(r"^(chat_|tab_)")


class CodeAssistInfo(NamedTuple):
    """What ``loadCodeAssist`` says about an account. Unpacks as ``(project_id, tier, raw)``."""

    project_id: str | None
    tier: str | None
    raw: dict

    @property
    def onboarded(self) -> bool:
        return self.project_id is not None

    @property
    def credits(self) -> float | None:
        """Google One AI credits available (``paidTier.availableCredits``), when reported."""
        paid = self.raw.get("paidTier")
        credits = paid.get("availableCredits") if isinstance(paid, dict) else None
        for credit in credits if isinstance(credits, list) else []:
            if isinstance(credit, dict) and credit.get("creditType") == "GOOGLE_ONE_AI":
                try:
                    return float(credit.get("creditAmount", "0"))
                except (TypeError, ValueError):
                    return None
        return None


def _tier_id(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return value["id"]
    return None


def _project_id(value: Any) -> str | None:
    """A project is a string in proto JSON; some responses use an object ``{"id": ...}`` (or projectId)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("id", "projectId", "project"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
    return None


def parse_load_code_assist(raw: Any) -> CodeAssistInfo:
    """Project and subscription tier: ``paidTier`` → ``currentTier`` (unless ineligible tiers are listed) →
    the default ``allowedTiers`` entry (§6.1)."""
    if not isinstance(raw, dict):
        raw = {}
    tier = _tier_id(raw.get("paidTier"))
    if tier is None and not raw.get("ineligibleTiers"):
        tier = _tier_id(raw.get("currentTier"))
    if tier is None:
        tier = _default_allowed(raw)
    return CodeAssistInfo(_project_id(raw.get("cloudaicompanionProject")), tier, raw)


def _default_allowed(raw: Mapping[str, Any]) -> str | None:
    allowed = [t for t in raw.get("allowedTiers") or [] if isinstance(t, dict)]
    for t in allowed:
        if t.get("isDefault") and _tier_id(t):
            return _tier_id(t)
    return None


def onboarding_tier(info: CodeAssistInfo) -> str:
    """The tier to onboard with: the default allowed tier, else the current tier, else ``free-tier`` (§6.2)."""
    return _default_allowed(info.raw) or _tier_id(info.raw.get("currentTier")) or "free-tier"


def project_from_operation(op: Any) -> str | None:
    """The project id of a finished onboardUser operation, or None while it runs."""
    if not isinstance(op, dict) or not op.get("done"):
        return None
    response = op.get("response")
    return _project_id(response.get("cloudaicompanionProject")) if isinstance(response, dict) else None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str = ""
    remaining_fraction: float | None = None  # 0..1; 0.0 when exhausted (field absent but resetTime present)
    reset_time: dt.datetime | None = None
    max_tokens: int | None = None  # context window
    max_output_tokens: int | None = None
    supports_thinking: bool = False
    supports_images: bool = False
    supports_image_generation: bool = False
    thinking_budget: int | None = None
    min_thinking_budget: int | None = None
    recommended: bool = False
    model_enum: str = ""  # "MODEL_GOOGLE_GEMINI_3_FLASH"
    api_provider: str = ""
    model_provider: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def internal(self) -> bool:
        return bool(_INTERNAL.match(self.id))

    @property
    def exhausted(self) -> bool:
        return self.remaining_fraction == 0.0


@dataclass(frozen=True, slots=True)
class ModelCatalog(Mapping[str, ModelInfo]):
    """``fetchAvailableModels`` for one account: a mapping of upstream model id → :class:`ModelInfo`, plus the
    deprecation forwards (old id → new id) and the ids that may use native Google search."""

    models: Mapping[str, ModelInfo]
    deprecated: Mapping[str, str] = field(default_factory=dict)
    web_search_model_ids: tuple[str, ...] = ()
    image_generation_model_ids: tuple[str, ...] = ()
    default_agent_model_id: str | None = None

    def __getitem__(self, key: str) -> ModelInfo:
        return self.models[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def chat_models(self) -> dict[str, ModelInfo]:
        return {k: v for k, v in self.models.items() if not v.internal}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _fraction(quota: Any) -> float | None:
    if not isinstance(quota, dict):
        return None
    value = quota.get("remainingFraction")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return min(1.0, max(0.0, float(value)))
    # Absent while a reset time is given means "nothing left" (§6.3; proto3 omits zero values).
    return 0.0 if quota.get("resetTime") else None


def _ids(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def parse_available_models(raw: Any) -> ModelCatalog:
    if not isinstance(raw, dict):
        raw = {}
    models: dict[str, ModelInfo] = {}
    for model_id, entry in (raw.get("models") or {}).items() if isinstance(raw.get("models"), dict) else ():
        if not isinstance(model_id, str) or not isinstance(entry, dict):
            continue
        quota = entry.get("quotaInfo")
        models[model_id] = ModelInfo(
            id=model_id,
            display_name=str(entry.get("displayName") or model_id),
            remaining_fraction=_fraction(quota),
            reset_time=parse_rfc3339(quota.get("resetTime")) if isinstance(quota, dict) else None,
            max_tokens=_int(entry.get("maxTokens")),
            max_output_tokens=_int(entry.get("maxOutputTokens")),
            supports_thinking=entry.get("supportsThinking") is True,
            supports_images=entry.get("supportsImages") is True,
            supports_image_generation=entry.get("supportsImageGeneration") is True,
            thinking_budget=_int(entry.get("thinkingBudget")),
            min_thinking_budget=_int(entry.get("minThinkingBudget")),
            recommended=entry.get("recommended") is True,
            model_enum=str(entry.get("model") or ""),
            api_provider=str(entry.get("apiProvider") or ""),
            model_provider=str(entry.get("modelProvider") or ""),
            raw=entry,
        )
    deprecated: dict[str, str] = {}
    dep = raw.get("deprecatedModelIds")
    if isinstance(dep, dict):
        for old, target in dep.items():
            new = target.get("newModelId") if isinstance(target, dict) else None
            if isinstance(old, str) and isinstance(new, str) and new:
                deprecated[old] = new
    default = raw.get("defaultAgentModelId")
    return ModelCatalog(
        models=models,
        deprecated=deprecated,
        web_search_model_ids=_ids(raw.get("webSearchModelIds")),
        image_generation_model_ids=_ids(raw.get("imageGenerationModelIds")),
        default_agent_model_id=default if isinstance(default, str) and default else None,
    )
