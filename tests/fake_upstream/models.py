"""The fake's model table: both eras' upstream ids of upstream-protocol.md §7.1 with their capabilities.

Each account gets its own copy (``add_account(models=...)``), so a test can give one account a model another
lacks (404 on the other) or shrink a context window to trigger "prompt too long" cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

GEMINI_CONTEXT = 1_048_576
CLAUDE_CONTEXT = 200_000


@dataclass(frozen=True)
class ModelSpec:
    id: str
    family: str  # "gemini" | "claude" | "gpt-oss"
    display_name: str
    max_output_tokens: int
    context_window: int
    thinking: bool = False  # supports thinking at all
    image: bool = False  # an image-generation model
    internal: bool = False  # chat_*/tab_* ids the proxies filter out
    quota_limit: int = 1000  # requests per quota window before 429 QUOTA_EXHAUSTED

    @property
    def gemini3(self) -> bool:
        """Gemini 3.x ids (and the 2026 agent aliases) enforce thought signatures on function calls."""
        return self.family == "gemini" and (self.id.startswith("gemini-3") or self.id in ("gemini-pro-agent",))

    @property
    def always_thinks(self) -> bool:
        return self.thinking and ("thinking" in self.id or self.gemini3)

    def with_(self, **changes: object) -> ModelSpec:
        return replace(self, **changes)  # type: ignore[arg-type]


def _gemini(mid: str, name: str, out: int = 65536, *, thinking: bool = True, image: bool = False,
            context: int = GEMINI_CONTEXT) -> ModelSpec:
    return ModelSpec(mid, "gemini", name, out, context, thinking=thinking, image=image)


def _claude(mid: str, name: str) -> ModelSpec:
    return ModelSpec(mid, "claude", name, 64_000, CLAUDE_CONTEXT, thinking=True)


ERA_2025 = [
    _claude("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    _claude("claude-sonnet-4-5-thinking", "Claude Sonnet 4.5 (Thinking)"),
    _claude("claude-opus-4-5-thinking", "Claude Opus 4.5 (Thinking)"),
    _claude("claude-opus-4-6-thinking", "Claude Opus 4.6 (Thinking)"),
    _claude("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    _gemini("gemini-2.5-flash", "Gemini 2.5 Flash", 65535),
    _gemini("gemini-2.5-flash-lite", "Gemini 2.5 Flash Lite", 65535),
    _gemini("gemini-2.5-flash-thinking", "Gemini 2.5 Flash (Thinking)", 65535),
    _gemini("gemini-2.5-pro", "Gemini 2.5 Pro", 65535),
    _gemini("gemini-3-flash", "Gemini 3 Flash", 65536),
    _gemini("gemini-3-pro-low", "Gemini 3 Pro (Low)", 65535),
    _gemini("gemini-3-pro-high", "Gemini 3 Pro (High)", 65535),
    _gemini("gemini-3-pro-image", "Gemini 3 Pro Image", 32768, thinking=False, image=True, context=131_072),
    ModelSpec("gpt-oss-120b-medium", "gpt-oss", "GPT-OSS 120B (Medium)", 32_768, 114_000),
]

ERA_2026 = [
    _claude("claude-sonnet-4-6-thinking", "Claude Sonnet 4.6 (Thinking)"),
    _gemini("gemini-3-flash-agent", "Gemini 3 Flash Agent", 65536),
    _gemini("gemini-3.5-flash-low", "Gemini 3.5 Flash (Low)", 65535),
    _gemini("gemini-3.5-flash-extra-low", "Gemini 3.5 Flash (Extra Low)", 65535),
    _gemini("gemini-3.5-flash-medium", "Gemini 3.5 Flash (Medium)", 65535),
    _gemini("gemini-3.5-flash-high", "Gemini 3.5 Flash (High)", 65535),
    _gemini("gemini-3.6-flash-high", "Gemini 3.6 Flash (High)", 65535),
    _gemini("gemini-3.7-flash-high", "Gemini 3.7 Flash (High)", 65535),
    _gemini("gemini-3.1-pro-low", "Gemini 3.1 Pro (Low)", 65535),
    _gemini("gemini-3.1-pro-high", "Gemini 3.1 Pro (High)", 65535),
    _gemini("gemini-pro-agent", "Gemini Pro Agent", 65535),
    _gemini("gemini-3.1-flash-lite", "Gemini 3.1 Flash Lite", 65535),
    _gemini("gemini-3.1-flash-image", "Gemini 3.1 Flash Image", 32768, thinking=False, image=True, context=131_072),
]

INTERNAL = [
    ModelSpec("chat_20706", "gemini", "Internal chat model", 8192, 131_072, internal=True),
    ModelSpec("chat_23310", "gemini", "Internal chat model", 8192, 131_072, internal=True),
    ModelSpec("tab_flash_lite_preview", "gemini", "Tab completion", 8192, 131_072, internal=True),
    ModelSpec("tab_jump_flash_lite_preview", "gemini", "Tab jump", 8192, 131_072, internal=True),
]

DEFAULT_MODELS: tuple[ModelSpec, ...] = tuple(ERA_2025 + ERA_2026 + INTERNAL)

DEFAULT_DEPRECATED = {"gemini-3-pro-high": "gemini-3.1-pro-high", "gemini-3-pro-low": "gemini-3.1-pro-low"}
DEFAULT_WEB_SEARCH_MODELS = ("gemini-2.5-flash",)


def gemini_model(mid: str, **kw: object) -> ModelSpec:
    """A Gemini model spec for an id the default table lacks (e.g. what gemini-cli asks for)."""
    base = _gemini(mid, mid)
    return base.with_(**kw) if kw else base


def model_table(models: object = None) -> dict[str, ModelSpec]:
    """Normalise ``add_account(models=...)``: None → defaults; ids (str) are looked up or created as Gemini ids."""
    if models is None:
        return {m.id: m for m in DEFAULT_MODELS}
    known = {m.id: m for m in DEFAULT_MODELS}
    table: dict[str, ModelSpec] = {}
    for item in models:  # type: ignore[attr-defined]
        spec = item if isinstance(item, ModelSpec) else known.get(str(item)) or gemini_model(str(item))
        table[spec.id] = spec
    return table
