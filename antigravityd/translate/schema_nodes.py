"""Per-node rules of the schema cleaner: reading types, collapsing, finishing one node (see ``schema``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

__all__ = [
    "branch_score",
    "brief",
    "camel_keywords",
    "enum_text",
    "finish_node",
    "is_null_schema",
    "is_number",
    "join",
    "looks_like_bare_properties",
    "merge_raw",
    "only",
    "read_type",
    "schema_children",
]

_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_SNAKE_KEYWORDS = {
    "any_of": "anyOf", "one_of": "oneOf", "all_of": "allOf", "max_items": "maxItems", "min_items": "minItems",
    "max_length": "maxLength", "min_length": "minLength", "max_properties": "maxProperties",
    "min_properties": "minProperties", "property_ordering": "propertyOrdering",
    "additional_properties": "additionalProperties",
}
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_KEYWORDS = frozenset({"type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "enum", "const",
                       "description", "required", "$schema", "$defs", "definitions", "additionalProperties",
                       "title", "nullable", "format", "default"})
_HINT_MAX = 120



def finish_node(out: dict[str, Any], *, response: bool) -> None:
    """Make one node consistent: type vs. properties/items, enum typing, required filtering, key order."""
    kind = out.get("type")
    if kind is None:
        if "properties" in out:
            kind = "object"
        elif "items" in out:
            kind = "array"
        elif "enum" in out:
            kind = _enum_type(out["enum"])
        if kind:
            out["type"] = kind
    if kind is None and out.get("nullable") is True and "enum" not in out:
        kind = out["type"] = "string"  # a bare `null` schema: the proto needs some type to hang nullable on
    if kind != "object":
        out.pop("properties", None)
        out.pop("required", None)
    if kind != "array":
        out.pop("items", None)
    if kind == "object" and not response:
        out.setdefault("properties", {})
    if kind == "array" and "items" not in out:
        out["items"] = {"type": "string"}  # the proto requires items on arrays; strings are the safe guess
    enum = out.pop("enum", None)
    if enum:
        if kind in (None, "string"):
            out["type"] = "string"
            out["enum"] = list(dict.fromkeys(enum_text(v) for v in enum))
        else:
            allowed = ", ".join(enum_text(v) for v in enum)
            out["description"] = join(out.get("description"), f"(allowed: {_clip(allowed)})")
    if "required" in out:
        props = out.get("properties", {})
        keep = [r for r in out["required"] if r in props]
        if not response:
            # a field that may be null may also be absent: Gemini treats required+nullable inconsistently
            keep = [r for r in keep if props[r].get("nullable") is not True]
        if keep:
            out["required"] = keep
        else:
            del out["required"]
    order = ("type", "title", "description", "nullable", "enum", "properties", "required", "items")
    ordered = {k: out[k] for k in order if k in out}
    ordered.update((k, v) for k, v in out.items() if k not in ordered)
    out.clear()
    out.update(ordered)


def read_type(value: object) -> tuple[str | None, bool, list[str]]:
    """``type`` → (one proto type or None, whether null is allowed, the alternatives when there were several)."""
    names = value if isinstance(value, list) else [value]
    kinds: list[str] = []
    nullable = False
    for name in names:
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered == "null":
            nullable = True
        elif lowered in _TYPES and lowered not in kinds:
            kinds.append(lowered)
    return (kinds[0] if kinds else None), nullable, (kinds if len(kinds) > 1 else [])


def is_null_schema(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind.lower() == "null"
    if isinstance(kind, list) and kind:
        return all(isinstance(k, str) and k.lower() == "null" for k in kind)
    if "const" in node and node["const"] is None:
        return True
    return node.get("enum") == [None]


def branch_score(branch: dict[str, Any]) -> int:
    kind = branch.get("type")
    if kind == "object" or "properties" in branch:
        return 3
    if kind == "array":
        return 2
    return 1 if kind else 0


def merge_raw(node: dict[str, Any], branch: dict[str, Any]) -> None:
    """allOf: union of properties and required; other keys only where the node has none."""
    for key, value in branch.items():
        if key == "properties" and isinstance(value, dict) and isinstance(node.get("properties"), dict):
            node["properties"] = {**value, **node["properties"]}
        elif key == "required" and isinstance(value, list) and isinstance(node.get("required"), list):
            node["required"] = [*node["required"], *value]
        else:
            node.setdefault(key, value)


def schema_children(node: dict[str, Any]) -> Iterator[object]:
    for key in _SCHEMA_MAPS:
        value = node.get(key)
        if isinstance(value, dict):
            yield from value.values()
    for key in _SCHEMA_LISTS:
        value = node.get(key)
        if isinstance(value, list):
            yield from value
    for key in _SCHEMA_VALUES:
        value = node.get(key)
        if isinstance(value, dict):
            yield value
        elif isinstance(value, list):
            yield from value


def camel_keywords(node: dict[str, Any]) -> dict[str, Any]:
    if not any(k in _SNAKE_KEYWORDS for k in node):
        return node
    out = dict(node)
    for snake, camel in _SNAKE_KEYWORDS.items():
        if snake in out:
            value = out.pop(snake)
            out.setdefault(camel, value)
    return out


def looks_like_bare_properties(node: dict[str, Any]) -> bool:
    """``{"city": {"type": "string"}}``: a property map sent where the object schema belongs."""
    return bool(node) and not any(k in _KEYWORDS for k in node) and all(
        isinstance(v, dict) and ("type" in v or "description" in v) for v in node.values())


def only(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in keys if k in d}


def _enum_type(values: list[object]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def enum_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def brief(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _HINT_MAX else text[: _HINT_MAX - 1] + "…"


def join(description: object, hint: str) -> str:
    return f"{description} {hint}" if isinstance(description, str) and description else hint
