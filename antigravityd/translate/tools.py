"""Tool declarations and tool choice, shared by the OpenAI, Responses and Anthropic request translators (§2.5).

All declarations go into **one** ``tools`` element (``functionDeclarations``) with cleaned schemas. Google-search
grounding is requested by a tool named like a search tool; it cannot be combined with function declarations
(upstream 400 "Multiple tools are supported only when they are all search tools"), so when both are present the
functions win and search is dropped. Claude models run function calling in ``VALIDATED`` mode unless the client
chose a mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from antigravityd.translate.errors import ClientError
from antigravityd.translate.schema import clean_tool_schema

__all__ = ["SEARCH_TOOL_NAMES", "ToolChoice", "ToolSet", "tool_fields"]

SEARCH_TOOL_NAMES = frozenset({"web_search", "google_search", "web_search_20250305", "web_search_preview"})
MAX_TOOLS = 512


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["AUTO", "ANY", "NONE"]
    allowed: tuple[str, ...] = ()


@dataclass(slots=True)
class ToolSet:
    """The declarations being built, the cleaned schema of each (for argument coercion), and whether search
    grounding was asked for."""

    family: str
    declarations: list[dict[str, Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: bool = False
    search_by_name: bool = True  # a function named like a search tool asks for grounding (not for Gemini clients)
    clean: Callable[[object], dict[str, Any]] = clean_tool_schema  # a SchemaCache's method in the daemon

    def add_function(self, name: object, description: object, parameters: object, param: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ClientError(f"{param}.name must be a non-empty string", param=f"{param}.name")
        if name in self.schemas:
            raise ClientError(f"{param}.name: tool {name!r} is declared twice", param=f"{param}.name")
        if len(self.declarations) >= MAX_TOOLS:
            raise ClientError(f"at most {MAX_TOOLS} tools are supported", param=param)
        if self.search_by_name and name in SEARCH_TOOL_NAMES:
            self.search = True
            return
        declaration: dict[str, Any] = {"name": name}
        if isinstance(description, str) and description:
            declaration["description"] = description
        schema = self.clean(parameters)
        self.schemas[name] = schema
        if schema.get("properties") or self.family == "claude":
            declaration["parameters"] = schema
        # A Gemini function without parameters is declared without them: an OBJECT with no properties is refused.
        self.declarations.append(declaration)

    def check_choice(self, choice: ToolChoice | None, param: str) -> None:
        for name in choice.allowed if choice else ():
            if name not in self.schemas:
                raise ClientError(f"{param} names tool {name!r}, which is not declared", param=param)


def tool_fields(tools: ToolSet, choice: ToolChoice | None) -> dict[str, Any]:
    """The request's ``tools`` and ``toolConfig`` fields (possibly none)."""
    if tools.declarations:
        fields: dict[str, Any] = {"tools": [{"functionDeclarations": tools.declarations}]}
        if choice is not None:
            config: dict[str, Any] = {"mode": choice.mode}
            if choice.allowed and choice.mode == "ANY":
                config["allowedFunctionNames"] = list(choice.allowed)
            fields["toolConfig"] = {"functionCallingConfig": config}
        elif tools.family == "claude":
            fields["toolConfig"] = {"functionCallingConfig": {"mode": "VALIDATED"}}
        return fields
    if tools.search and (choice is None or choice.mode != "NONE"):
        return {"tools": [{"googleSearch": {}}]}
    return {}
