"""Model names: what a client asks for, what goes upstream, and what the upstream model can do.

The upstream catalogue churns every few weeks (upstream-protocol §7.1, §13 #12), so this module deliberately knows
little: a *small* alias table for the names clients hard-code (OpenAI SDK defaults, Claude Code's dated Claude
names), family fallbacks for Claude names we have never seen, and pass-through for everything that already looks
like an upstream id. Everything else comes from the operator's mappings and from the models the accounts report
(``known``).

Resolution order (:func:`resolve_model`):

1. the operator's exact mapping for the name as sent;
2. the operator's ``*`` wildcard mappings — the most specific pattern (most literal characters) wins;
3. ids the accounts report (``known``) pass through unchanged;
4. the built-in exact aliases (:data:`BUILTIN_ALIASES`), then the ids we ship as defaults (:data:`DEFAULT_MODELS`);
5. built-in family fallbacks (:data:`FAMILY_FALLBACKS`, e.g. any ``claude-opus-*`` → our Opus);
6. pass-through for ``gemini-*`` and ``*thinking*`` names;
7. otherwise :class:`~antigravityd.translate.errors.UnknownModel` (a 400 listing what is known).

Reported ids come before the built-in tables so that a real upstream id (say a new ``claude-opus-5-thinking``, or
an old id an account still serves) is used as-is instead of being folded into another model by a guess of ours.

Suffixes are peeled off before steps 3–7 (but a mapping sees the full name first): ``-online`` asks for Google-search
grounding (``requestType: web_search``), and image-model variants ``<model>-image[-1k|-2k|-4k|-hd][-16x9]`` carry the
image size and aspect ratio (upstream-protocol §7.2, §11.7).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from antigravityd.translate.errors import ClientError, UnknownModel

__all__ = [
    "BUILTIN_ALIASES",
    "DEFAULT_MODELS",
    "FAMILY_FALLBACKS",
    "IMAGE_ASPECT_RATIOS",
    "ImageConfig",
    "ModelCaps",
    "ModelRoute",
    "image_variants",
    "is_gemini3",
    "is_listable",
    "model_caps",
    "model_family",
    "resolve_model",
]

Family = Literal["gemini", "claude", "gpt-oss"]
RequestType = Literal["agent", "web_search", "image_gen"]

# Ids every account of the current era serves (upstream-protocol §7.1, Jun–Aug 2026). They are accepted and listed
# even before any account has reported its catalogue. Keep this short: it is a default, not the truth.
DEFAULT_MODELS: frozenset[str] = frozenset({
    "claude-opus-4-6-thinking",
    "claude-sonnet-4-6",
    "claude-sonnet-4-6-thinking",
    "gemini-3-flash",
    "gemini-3.1-pro-high",
    "gemini-3.1-pro-low",
    "gemini-3.1-flash-lite",
    "gemini-3.1-flash-image",
    "gpt-oss-120b-medium",
})

# Names clients hard-code → upstream id. Small on purpose; operators add their own through mappings.
BUILTIN_ALIASES: Mapping[str, str] = {
    "claude-opus-4-6": "claude-opus-4-6-thinking",
    "claude-opus-4.6": "claude-opus-4-6-thinking",
    "claude-sonnet-4.6": "claude-sonnet-4-6",
    "gemini-3-pro": "gemini-3.1-pro-high",
    "gemini-3-pro-preview": "gemini-3.1-pro-high",
    "gemini-3.1-pro": "gemini-3.1-pro-high",
    "gemini-3.1-pro-preview": "gemini-3.1-pro-high",
    "gemini-3-flash-preview": "gemini-3-flash",
    "gemini-3-pro-image": "gemini-3.1-flash-image",
    "gemini-3-pro-image-preview": "gemini-3.1-flash-image",
    "internal-background-task": "gemini-3-flash",
}

# Prefix → (upstream id, upstream id when the name asks for thinking). Catches Claude Code's dated names
# (``claude-opus-4-8``, ``claude-haiku-4-5-20251001``) and the OpenAI SDK's defaults.
FAMILY_FALLBACKS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-", "claude-opus-4-6-thinking", "claude-opus-4-6-thinking"),
    ("claude-sonnet-", "claude-sonnet-4-6", "claude-sonnet-4-6-thinking"),
    ("claude-haiku-", "gemini-3-flash", "gemini-3-flash"),  # haiku = the cheap side model: spend Gemini quota
    ("claude-3", "claude-sonnet-4-6", "claude-sonnet-4-6-thinking"),
    ("gpt-5", "gemini-3-flash", "gemini-3-flash"),
    ("gpt-4", "gemini-3-flash", "gemini-3-flash"),
    ("gpt-3.5", "gemini-3-flash", "gemini-3-flash"),
)

IMAGE_ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "3:2", "2:3", "5:4", "4:5")
_IMAGE_SIZES = {"1k": "1K", "2k": "2K", "4k": "4K", "hd": "4K"}
_IMAGE_NAME = re.compile(r"^(?P<base>.+-image)(?:-(?P<size>1k|2k|4k|hd))?(?:-(?P<w>\d{1,2})[x-](?P<h>\d{1,2}))?$")
_ONLINE = "-online"
_HIDDEN = re.compile(r"^(chat_|tab_|internal-)")
_GEMINI_VERSION = re.compile(r"^gemini-(\d+)(?:\.\d+)?-")


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """``generationConfig.imageConfig`` for image models (upstream-protocol §11.7)."""

    aspect_ratio: str | None = None
    image_size: str | None = None

    def to_upstream(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.aspect_ratio:
            out["aspectRatio"] = self.aspect_ratio
        if self.image_size:
            out["imageSize"] = self.image_size
        return out


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """Where one request goes. ``reason`` is what the ``X-Mapping-Reason`` header shows."""

    requested: str
    upstream: str
    reason: str  # "exact" | "wildcard:<pattern>" | "alias" | "known" | "family:<prefix>" | "passthrough"
    request_type: RequestType = "agent"
    image: ImageConfig | None = None

    @property
    def family(self) -> Family:
        return model_family(self.upstream)


@dataclass(frozen=True, slots=True)
class ModelCaps:
    """What an upstream model accepts. Budgets are thinking-token budgets; ``levels`` are the accepted
    ``thinkingLevel`` values (empty: budgets only)."""

    family: Family
    context_window: int
    max_output: int
    thinking: bool  # accepts a thinkingConfig at all
    thinking_by_default: bool  # we turn thinking on when the client does not say
    budget_min: int = 0
    budget_max: int = 0
    levels: tuple[str, ...] = ()
    image_output: bool = False


def model_family(model_id: str) -> Family:
    if model_id.startswith("claude"):
        return "claude"
    if model_id.startswith("gpt-oss"):
        return "gpt-oss"
    return "gemini"


def is_gemini3(model_id: str) -> bool:
    """Gemini 3.x and later (``thinkingLevel`` capable, signature rules of upstream-protocol §9.1)."""
    if model_family(model_id) != "gemini":
        return False
    m = _GEMINI_VERSION.match(model_id)
    if m is None:
        return model_id.startswith("gemini-")  # gemini-pro-agent, gemini-flash-…: current-generation names
    return int(m.group(1)) >= 3


def model_caps(model_id: str, reported: Mapping[str, Any] | None = None) -> ModelCaps:
    """Capabilities of an upstream id: built-in rules per family, refined by the account's
    ``fetchAvailableModels`` entry (``maxTokens``, ``maxOutputTokens``, ``thinkingBudget``, ``minThinkingBudget``,
    ``supportsThinking``) when the caller has one."""
    caps = _builtin_caps(model_id)
    if not reported:
        return caps
    context = _positive_int(reported.get("maxTokens")) or caps.context_window
    max_output = _positive_int(reported.get("maxOutputTokens")) or caps.max_output
    budget_max = _positive_int(reported.get("thinkingBudget")) or caps.budget_max
    budget_min = reported.get("minThinkingBudget")
    budget_min = budget_min if isinstance(budget_min, int) and 0 <= budget_min <= budget_max else caps.budget_min
    thinking = reported.get("supportsThinking")
    thinking = caps.thinking if not isinstance(thinking, bool) else thinking
    return ModelCaps(
        family=caps.family,
        context_window=context,
        max_output=max_output,
        thinking=thinking,
        thinking_by_default=caps.thinking_by_default and thinking,
        budget_min=budget_min,
        budget_max=budget_max,
        levels=caps.levels if thinking else (),
        image_output=caps.image_output,
    )


def _builtin_caps(model_id: str) -> ModelCaps:
    family = model_family(model_id)
    if family == "claude":
        # Budget must stay below max_tokens (64000); generation.py enforces that.
        return ModelCaps("claude", 200_000, 64_000, thinking=True, thinking_by_default="thinking" in model_id,
                         budget_min=1024, budget_max=32_000)
    if family == "gpt-oss":
        return ModelCaps("gpt-oss", 114_000, 32_768, thinking=False, thinking_by_default=False)
    if "-image" in model_id:
        return ModelCaps("gemini", 1_048_576, 32_768, thinking=False, thinking_by_default=False, image_output=True)
    pro = "-pro" in model_id
    if is_gemini3(model_id):
        levels = ("low", "medium", "high") if pro else ("minimal", "low", "medium", "high")
        return ModelCaps("gemini", 1_048_576, 65_535, thinking=True, thinking_by_default=False,
                         budget_min=128 if pro else 0, budget_max=32_768 if pro else 24_576, levels=levels)
    return ModelCaps("gemini", 1_048_576, 65_535, thinking=True, thinking_by_default="thinking" in model_id,
                     budget_min=128 if pro else 0, budget_max=32_768 if pro else 24_576)


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# ---------------------------------------------------------------------------------------------------- resolution


def resolve_model(
    name: object,
    mappings: Mapping[str, str],
    known: Collection[str] = (),
    *,
    web_search_model: str | None = None,
) -> ModelRoute:
    """Map a client's model name to an upstream route (order in the module docstring).

    ``web_search_model``: when given, ``-online`` requests go to this model instead of the resolved one (the
    upstream grounds only on some models; the accounts report them as ``webSearchModelIds``).
    """
    if not isinstance(name, str) or not name.strip():
        raise ClientError("model is required and must be a non-empty string", param="model")
    requested = name
    raw = _normalise(name)
    target_reason = _from_mappings(raw, mappings)
    if target_reason is None:
        core, online = (raw[: -len(_ONLINE)], True) if raw.endswith(_ONLINE) and raw != _ONLINE else (raw, False)
        core, image = _split_image(core)
        target_reason = _from_mappings(core, mappings) or _builtin(core, known)
        if target_reason is None:
            raise UnknownModel(raw, _known_names(mappings, known))
        target, reason = target_reason
        target = target + (image if image else "") + (_ONLINE if online else "")
    else:
        target, reason = target_reason
    return _route(requested, target, reason, web_search_model)


def _route(requested: str, target: str, reason: str, web_search_model: str | None) -> ModelRoute:
    upstream = _normalise(target)
    web = upstream.endswith(_ONLINE) and upstream != _ONLINE
    if web:
        upstream = upstream[: -len(_ONLINE)]
    upstream, suffix = _split_image(upstream)
    image: ImageConfig | None = None
    if suffix is not None or model_caps(upstream).image_output:
        image = _image_config(suffix or "")
        return ModelRoute(requested, upstream, reason, "image_gen", image)
    if web:
        return ModelRoute(requested, web_search_model or upstream, reason, "web_search")
    return ModelRoute(requested, upstream, reason)


def _normalise(name: str) -> str:
    name = name.strip()
    name = name.removeprefix("models/")
    # Claude Code appends context hints such as "[1m]"; they are not part of any model id.
    if name.endswith("]") and "[" in name:
        name = name[: name.rindex("[")]
    return name.strip()


def _from_mappings(name: str, mappings: Mapping[str, str]) -> tuple[str, str] | None:
    target = mappings.get(name)
    if isinstance(target, str) and target.strip():
        return target, "exact"
    best: tuple[int, int, str] | None = None
    for pattern, target in mappings.items():
        if "*" not in pattern or not isinstance(target, str) or not target.strip():
            continue
        if _glob(pattern).fullmatch(name):
            literal = len(pattern) - pattern.count("*")
            rank = (literal, len(pattern), pattern)
            if best is None or rank[:2] > best[:2] or (rank[:2] == best[:2] and pattern < best[2]):
                best = rank
    if best is None:
        return None
    pattern = best[2]
    return mappings[pattern], f"wildcard:{pattern}"


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _builtin(name: str, known: Collection[str]) -> tuple[str, str] | None:
    if name in known:  # an id an account reports beats any built-in guess about it
        return name, "known"
    if name in BUILTIN_ALIASES:
        return BUILTIN_ALIASES[name], "alias"
    if name in DEFAULT_MODELS:
        return name, "known"
    for prefix, plain, thinking in FAMILY_FALLBACKS:
        if name.startswith(prefix):
            return (thinking if "thinking" in name else plain), f"family:{prefix}"
    if name.startswith("gemini-") or "thinking" in name:
        return name, "passthrough"
    return None


def _split_image(name: str) -> tuple[str, str | None]:
    """``gemini-3-pro-image-4k-16x9`` → (``gemini-3-pro-image``, ``-4k-16x9``); other names unchanged."""
    m = _IMAGE_NAME.match(name)
    if m is None or not (m.group("size") or m.group("w")):
        return name, None
    if m.group("w") and f"{int(m.group('w'))}:{int(m.group('h'))}" not in IMAGE_ASPECT_RATIOS:
        return name, None
    return m.group("base"), name[len(m.group("base")):]


def _image_config(suffix: str) -> ImageConfig:
    m = _IMAGE_NAME.match("x-image" + suffix)
    if m is None:
        return ImageConfig()
    ratio = f"{int(m.group('w'))}:{int(m.group('h'))}" if m.group("w") else None
    size = _IMAGE_SIZES.get(m.group("size") or "")
    return ImageConfig(aspect_ratio=ratio, image_size=size)


def _known_names(mappings: Mapping[str, str], known: Collection[str]) -> set[str]:
    names = set(known) | set(DEFAULT_MODELS) | set(BUILTIN_ALIASES)
    names |= {k for k in mappings if "*" not in k}
    return {n for n in names if is_listable(n)}


# ---------------------------------------------------------------------------------------------------- listing


def is_listable(model_id: str) -> bool:
    """Internal upstream ids (``chat_20706``, ``tab_*``) and our virtual ids never appear in model lists."""
    return bool(model_id) and _HIDDEN.match(model_id) is None


def image_variants(base_ids: Iterable[str]) -> list[str]:
    """The suffix variants of each image model that clients may ask for by name (§7.2)."""
    out: list[str] = []
    for base in base_ids:
        for size in ("", "-2k", "-4k"):
            for ratio in ("", "-1x1", "-4x3", "-3x4", "-16x9", "-9x16", "-21x9"):
                out.append(base + size + ratio)
    return out
