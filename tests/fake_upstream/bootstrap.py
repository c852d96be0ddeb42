"""Answers of the fake's account bootstrap RPCs: loadCodeAssist and fetchAvailableModels (§6.1, §6.3)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import errors
from .state import Account

if TYPE_CHECKING:
    from .app import FakeUpstream

TIER_NAMES = {
    "free-tier": "Gemini Code Assist for individuals", "legacy-tier": "Gemini Code Assist (legacy)",
    "standard-tier": "Gemini Code Assist", "g1-pro-tier": "Google AI Pro", "g1-ultra-tier": "Google AI Ultra",
    "ws-ai-ultra-business-tier": "Google AI Ultra for Business",
}


def _tier(tier_id: str, default: bool = False) -> dict:
    out: dict[str, Any] = {"id": tier_id, "name": TIER_NAMES.get(tier_id, tier_id),
                           "description": TIER_NAMES.get(tier_id, tier_id),
                           "userDefinedCloudaicompanionProject": tier_id != "free-tier"}
    if default:
        out["isDefault"] = True
    return out


def load_code_assist_response(account: Account) -> dict:
    out: dict[str, Any] = {}
    if account.project is not None:
        current = _tier(account.tier)
        current.update(privacyNotice={}, hasAcceptedTos=True, hasOnboardedPreviously=True)
        out["currentTier"] = current
    out["allowedTiers"] = [_tier(t, default=(i == 0)) for i, t in enumerate(account.allowed_tiers)]
    if account.paid_tier:
        paid = _tier(account.paid_tier)
        if account.credits is not None:
            paid["availableCredits"] = [{"creditType": "GOOGLE_ONE_AI", "creditAmount": account.credits,
                                         "minimumCreditAmountForUsage": "50"}]
        out["paidTier"] = paid
    if account.ineligible_tiers:
        out["ineligibleTiers"] = account.ineligible_tiers
    if account.project is not None:
        out["cloudaicompanionProject"] = account.project
    return out


def available_models(fake: FakeUpstream, account: Account) -> dict:
    state = fake.state
    models: dict[str, Any] = {}
    for spec in account.models.values():
        if spec.internal:
            models[spec.id] = {"displayName": spec.display_name}
            continue
        quota = state.quota(account, spec)
        quota_info: dict[str, Any] = {"resetTime": errors.rfc3339(quota.reset_at)}
        if (fraction := quota.remaining_fraction()) > 0:
            quota_info = {"remainingFraction": round(fraction, 7), **quota_info}
        provider = {"claude": ("API_PROVIDER_ANTHROPIC_VERTEX", "MODEL_PROVIDER_ANTHROPIC"),
                    "gpt-oss": ("API_PROVIDER_OPENAI_VERTEX", "MODEL_PROVIDER_OPENAI")}.get(
            spec.family, ("API_PROVIDER_GOOGLE_GEMINI", "MODEL_PROVIDER_GOOGLE"))
        entry: dict[str, Any] = {
            "displayName": spec.display_name, "supportsImages": True, "supportsThinking": spec.thinking,
            "recommended": not spec.image, "maxTokens": spec.context_window, "maxOutputTokens": spec.max_output_tokens,
            "tokenizerType": "TOKENIZER_TYPE_GEMINI" if spec.family == "gemini" else "TOKENIZER_TYPE_LLAMA",
            "model": "MODEL_" + re.sub(r"[^A-Z0-9]+", "_", spec.id.upper()),
            "apiProvider": provider[0], "modelProvider": provider[1], "quotaInfo": quota_info,
        }
        if spec.thinking:
            entry.update(thinkingBudget=24576 if spec.family == "gemini" else 64000,
                         minThinkingBudget=0 if spec.family == "gemini" else 1024)
        if spec.image:
            entry["supportsImageGeneration"] = True
        models[spec.id] = entry
    chat = [m.id for m in account.models.values() if not m.internal and not m.image]
    return {
        "models": models,
        "defaultAgentModelId": chat[0] if chat else "",
        "agentModelSorts": [{"displayName": "Recommended", "groups": [{"modelIds": chat[:6]}]}],
        "commandModelIds": chat[:1],
        "tabModelIds": [m.id for m in account.models.values() if m.id.startswith("tab_")],
        "imageGenerationModelIds": [m.id for m in account.models.values() if m.image],
        "webSearchModelIds": [m for m in state.web_search_models if m in account.models],
        "deprecatedModelIds": {old: {"newModelId": new} for old, new in state.deprecated.items()},
    }
