"""JSON-Schema → Vertex ``Schema`` proto, for tool declarations and structured output (upstream-protocol §10).

``functionDeclarations[].parameters`` is parsed into Vertex's ``Schema`` proto: a key that is not a proto field is a
400 ``Unknown name``, a type array is ``Proto field is not repeating``, a boolean sub-schema is ``Invalid value``.
Client schemas (Claude Code, MCP servers, Pydantic, Zod) are full JSON Schema, so we rewrite them:

* ``$ref`` is inlined from ``$defs``/``definitions`` at any level (JSON pointer first, then by name), siblings of the
  ``$ref`` winning; a reference already being expanded is a cycle and becomes ``{"type": "object"}`` with a hint.
* ``allOf`` is merged into its node; ``anyOf``/``oneOf`` collapse to the best branch (object > array > scalar), null
  branches make the node ``nullable``, string-constant branches merge into one ``enum``.
* ``type: [x, "null"]`` becomes ``type: x`` + ``nullable``; boolean schemas are dropped.
* ``properties`` and ``items`` are walked independently; the declared type decides which one survives.
* Data-valued keywords (``enum``, ``const``, ``default``, ``examples``, ``example``, ``required``) are never walked
  as schemas, and property *names* are never treated as keywords (a parameter called ``format`` survives).
* Constraints the upstream would reject or not enforce move into the description (``(minLength: 1, format: uri)``).
* ``required`` keeps only existing properties; enums are strings only.

Only :data:`TOOL_SCHEMA_KEYS` survive in tool schemas — a strict subset of the proto's fields, since Cloud Code
rejects some legal ones in practice. :func:`clean_response_schema` is milder (keeps titles, numeric constraints and
``required`` of nullable fields). Both never raise, bound their work (depth 64, a node budget against ``$ref``
explosions) and are idempotent.

Never run these over tool-call *arguments* or tool results: those are data whose keys may look like keywords
(upstream-protocol §10.5 #1). :func:`coerce_tool_args` is the only function here that touches arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "PROTO_SCHEMA_KEYS",
    "RESPONSE_SCHEMA_KEYS",
    "TOOL_SCHEMA_KEYS",
    "clean_response_schema",
    "clean_tool_schema",
    "coerce_tool_args",
]

MAX_DEPTH = 64
MAX_NODES = 10_000  # schema nodes visited per call; bounds $ref diamonds that would otherwise grow exponentially

# The Vertex Schema proto's fields (upstream-protocol §10.1): what a strict upstream accepts.
PROTO_SCHEMA_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
})
TOOL_SCHEMA_KEYS = frozenset({"type", "description", "nullable", "enum", "properties", "required", "items"})
_NATIVE_RESPONSE_CONSTRAINTS = ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum")
RESPONSE_SCHEMA_KEYS = TOOL_SCHEMA_KEYS | {"title", *_NATIVE_RESPONSE_CONSTRAINTS}

_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_SNAKE_KEYWORDS = {
    "any_of": "anyOf", "one_of": "oneOf", "all_of": "allOf", "max_items": "maxItems", "min_items": "minItems",
    "max_length": "maxLength", "min_length": "minLength", "max_properties": "maxProperties",
    "min_properties": "minProperties", "property_ordering": "propertyOrdering",
    "additional_properties": "additionalProperties",
}
# Keys that, moved into the description, still tell the model something useful. Order = order in the hint.
_HINTED = ("format", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
           "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
           "default")
# Keywords whose values are sub-schemas (walked when collecting $defs); everything else is data or annotation.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_KEYWORDS = frozenset({"type", "properties", "items", "anyOf", "oneOf", "allOf", "$ref", "enum", "const",
                       "description", "required", "$schema", "$defs", "definitions", "additionalProperties",
                       "title", "nullable", "format", "default"})
_HINT_MAX = 120
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def clean_tool_schema(schema: object) -> dict[str, Any]:
    """A ``functionDeclarations[].parameters`` value: always an object schema with only :data:`TOOL_SCHEMA_KEYS`."""
    if isinstance(schema, dict) and _looks_like_bare_properties(schema):
        schema = {"type": "object", "properties": schema}  # MCP servers sometimes send just the property map
    cleaner = _Cleaner(schema, response=False)
    out = cleaner.clean(schema, (), 0) or {}
    if out.get("type") != "object":
        # A tool's parameters are always an object; keep what we can say about them.
        out = {"type": "object", "properties": out.get("properties", {}), **_only(out, ("description", "required"))}
        _finish(out, response=False)
    return out


def clean_response_schema(schema: object) -> dict[str, Any]:
    """A ``generationConfig.responseSchema`` value: the same rewriting, milder about what it keeps."""
    cleaner = _Cleaner(schema, response=True)
    return cleaner.clean(schema, (), 0) or {}


class _Cleaner:
    def __init__(self, root: object, *, response: bool) -> None:
        self.root = root
        self.response = response
        self.budget = MAX_NODES
        self.defs: dict[str, object] = {}
        self._collect_defs(root)

    # -------------------------------------------------------------------------------------- references

    def _collect_defs(self, root: object) -> None:
        """Every ``$defs``/``definitions`` entry at any schema position, first one of a name winning."""
        stack: list[tuple[object, int]] = [(root, 0)]
        visited = 0
        while stack and visited < MAX_NODES:
            node, depth = stack.pop()
            visited += 1
            if not isinstance(node, dict) or depth > MAX_DEPTH:
                continue
            for key in ("$defs", "definitions"):
                defs = node.get(key)
                if isinstance(defs, dict):
                    for name, value in defs.items():
                        self.defs.setdefault(name, value)
            stack.extend((child, depth + 1) for child in _schema_children(node))

    def _lookup(self, ref: str) -> object | None:
        if not ref.startswith("#"):
            return None  # remote references are never fetched
        node: object = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            segment = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                node = node[int(segment)]
            else:
                node = None
                break
        if node is not None:
            return node
        return self.defs.get(ref.rsplit("/", 1)[-1])

    def _expand(self, node: dict[str, Any], refs: tuple[str, ...], depth: int) -> tuple[dict[str, Any], tuple]:
        """Resolve the node's own ``$ref`` chain and ``allOf`` into one plain dict (no recursion into children)."""
        node = _camel_keywords(node)
        while "$ref" in node:
            ref = node["$ref"]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not isinstance(ref, str):
                node = siblings
                break
            name = ref.rsplit("/", 1)[-1] or ref
            if ref in refs or len(refs) >= MAX_DEPTH:
                node = {**siblings, "type": "object"}
                node["description"] = _join(siblings.get("description"), f"(recursive: {name})")
                node.pop("properties", None)
                break
            target = self._lookup(ref)
            if not isinstance(target, dict):
                node = {**siblings, "type": siblings.get("type", "string")}
                node["description"] = _join(siblings.get("description"), f"(unresolved reference: {name})")
                break
            refs = (*refs, ref)
            node = {**_camel_keywords(target), **siblings}
        branches = node.get("allOf")
        if branches is not None:
            node = {k: v for k, v in node.items() if k != "allOf"}
            if isinstance(branches, list) and depth < MAX_DEPTH:
                for branch in branches:
                    if isinstance(branch, dict) and self._spend():
                        expanded, _ = self._expand(branch, refs, depth + 1)
                        _merge_raw(node, expanded)
        return node, refs

    def _spend(self) -> bool:
        self.budget -= 1
        return self.budget >= 0

    # -------------------------------------------------------------------------------------- cleaning

    def clean(self, schema: object, refs: tuple[str, ...], depth: int) -> dict[str, Any] | None:
        """The cleaned schema, or None when ``schema`` is not a schema object (booleans, data)."""
        if not isinstance(schema, dict):
            return None
        if depth > MAX_DEPTH or not self._spend():
            return {"type": "object", "description": "(schema truncated: nested too deeply)"} | (
                {} if self.response else {"properties": {}})
        node, refs = self._expand(schema, refs, depth)
        out: dict[str, Any] = {}
        hints: list[str] = []
        nullable = node.get("nullable") is True

        kind, type_nullable, accepts = _read_type(node.get("type"))
        nullable = nullable or type_nullable
        if kind:
            out["type"] = kind
        if accepts:
            hints.append("accepts: " + " | ".join(accepts))
        if isinstance(node.get("description"), str) and node["description"]:
            out["description"] = node["description"]
        if self.response and isinstance(node.get("title"), str) and node["title"]:
            out["title"] = node["title"]

        enum = node.get("enum")
        if not isinstance(enum, list) and "const" in node:
            enum = [node["const"]]
        if isinstance(enum, list) and enum:
            nullable = nullable or None in enum
            values = [v for v in enum if v is not None]
            if values:
                out["enum"] = values

        properties = node.get("properties")
        if isinstance(properties, dict):
            cleaned: dict[str, Any] = {}
            promoted: list[str] = []
            for name, sub in properties.items():
                if not isinstance(name, str):
                    continue
                if isinstance(sub, dict) and sub.get("required") is True:
                    promoted.append(name)  # MCP-style per-property `required: true`
                sub_out = self.clean(sub, refs, depth + 1)
                if sub_out is not None:
                    cleaned[name] = sub_out
            out["properties"] = cleaned
            required = node.get("required")
            names = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
            if names or promoted:
                out["required"] = list(dict.fromkeys([*names, *promoted]))

        items = node.get("items")
        if isinstance(items, list):  # tuple validation: the first positional schema stands for all
            items = next((i for i in items if isinstance(i, dict)), None)
        if isinstance(items, dict):
            items_out = self.clean(items, refs, depth + 1)
            if items_out is not None:
                out["items"] = items_out

        for key in _HINTED:
            if key not in node:
                continue
            value = node[key]
            if self.response and key in _NATIVE_RESPONSE_CONSTRAINTS and _is_number(value):
                out[key] = value
            elif key != "format" or isinstance(value, str):
                hints.append(f"{key}: {_brief(value)}")

        union = [b for key in ("anyOf", "oneOf") if isinstance(node.get(key), list) for b in node[key]]
        if union:
            nullable = self._merge_union(out, union, refs, depth, hints) or nullable

        if nullable:
            out["nullable"] = True
        if hints:
            out["description"] = _join(out.get("description"), "(" + ", ".join(hints) + ")")
        _finish(out, response=self.response)
        return out

    def _merge_union(self, out: dict[str, Any], union: list[object], refs: tuple, depth: int,
                     hints: list[str]) -> bool:
        """Collapse anyOf/oneOf into ``out``; returns whether a branch allowed null."""
        nullable = False
        branches: list[dict[str, Any]] = []
        for raw in union:
            if not isinstance(raw, dict) or not self._spend():
                continue
            expanded, branch_refs = self._expand(raw, refs, depth + 1)
            if _is_null_schema(expanded):
                nullable = True
                continue
            cleaned = self.clean(expanded, branch_refs, depth + 1)
            if cleaned is not None:
                nullable = nullable or cleaned.pop("nullable", False) is True
                branches.append(cleaned)
        if not branches:
            return nullable
        enums = [b for b in branches if b.get("type") == "string" and "enum" in b and "properties" not in b]
        if len(enums) == len(branches) and len(branches) > 1:
            merged = [v for b in enums for v in b["enum"]]
            best: dict[str, Any] = {"type": "string", "enum": list(dict.fromkeys(merged))}
        else:
            best = max(branches, key=_branch_score)  # max() keeps the first of equal scores
            types = list(dict.fromkeys(b["type"] for b in branches if "type" in b))
            if len(types) > 1:
                hints.append("accepts: " + " | ".join(types))
        for key, value in best.items():
            if key == "properties" and isinstance(out.get("properties"), dict):
                out["properties"] = {**value, **out["properties"]}
            elif key == "required" and isinstance(out.get("required"), list):
                out["required"] = list(dict.fromkeys([*out["required"], *value]))
            elif key == "description" and "description" in out:
                continue
            else:
                out.setdefault(key, value)
        return nullable


# ---------------------------------------------------------------------------------------------------- helpers


def _finish(out: dict[str, Any], *, response: bool) -> None:
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
            out["enum"] = list(dict.fromkeys(_enum_text(v) for v in enum))
        else:
            allowed = ", ".join(_enum_text(v) for v in enum)
            out["description"] = _join(out.get("description"), f"(allowed: {_clip(allowed)})")
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


def _read_type(value: object) -> tuple[str | None, bool, list[str]]:
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


def _is_null_schema(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind.lower() == "null"
    if isinstance(kind, list) and kind:
        return all(isinstance(k, str) and k.lower() == "null" for k in kind)
    if "const" in node and node["const"] is None:
        return True
    return node.get("enum") == [None]


def _branch_score(branch: dict[str, Any]) -> int:
    kind = branch.get("type")
    if kind == "object" or "properties" in branch:
        return 3
    if kind == "array":
        return 2
    return 1 if kind else 0


def _merge_raw(node: dict[str, Any], branch: dict[str, Any]) -> None:
    """allOf: union of properties and required; other keys only where the node has none."""
    for key, value in branch.items():
        if key == "properties" and isinstance(value, dict) and isinstance(node.get("properties"), dict):
            node["properties"] = {**value, **node["properties"]}
        elif key == "required" and isinstance(value, list) and isinstance(node.get("required"), list):
            node["required"] = [*node["required"], *value]
        else:
            node.setdefault(key, value)


def _schema_children(node: dict[str, Any]) -> Iterator[object]:
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


def _camel_keywords(node: dict[str, Any]) -> dict[str, Any]:
    if not any(k in _SNAKE_KEYWORDS for k in node):
        return node
    out = dict(node)
    for snake, camel in _SNAKE_KEYWORDS.items():
        if snake in out:
            value = out.pop(snake)
            out.setdefault(camel, value)
    return out


def _looks_like_bare_properties(node: dict[str, Any]) -> bool:
    """``{"city": {"type": "string"}}``: a property map sent where the object schema belongs."""
    return bool(node) and not any(k in _KEYWORDS for k in node) and all(
        isinstance(v, dict) and ("type" in v or "description" in v) for v in node.values())


def _only(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in keys if k in d}


def _enum_type(values: list[object]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def _enum_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _brief(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _HINT_MAX else text[: _HINT_MAX - 1] + "…"


def _join(description: object, hint: str) -> str:
    return f"{description} {hint}" if isinstance(description, str) and description else hint


# ---------------------------------------------------------------------------------------------------- arguments


def coerce_tool_args(args: dict[str, Any], schema: object) -> dict[str, Any]:
    """Replayed tool-call arguments with strings turned into the numbers/booleans the schema declares.

    Only keys the (cleaned) schema describes are touched, and only when nothing is lost: ``"5"`` → 5,
    ``"true"`` → True, but ``"007"`` stays a string. Returns a new dict; ``args`` is not modified.
    """
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return args
    props = schema["properties"]
    out: dict[str, Any] = {}
    for key, value in args.items():
        sub = props.get(key)
        out[key] = _coerce_value(value, sub, 0) if isinstance(sub, dict) else value
    return out


def _coerce_value(value: object, schema: dict[str, Any], depth: int) -> object:
    if depth > MAX_DEPTH:
        return value
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and _INT.fullmatch(value) and not _leading_zero(value):
            return int(value)
        if kind == "number" and _NUMBER.fullmatch(value) and not _leading_zero(value):
            number = float(value)
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
        return value
    if isinstance(value, dict) and kind == "object":
        props = schema.get("properties")
        if isinstance(props, dict):
            return {k: _coerce_value(v, props[k], depth + 1) if isinstance(props.get(k), dict) else v
                    for k, v in value.items()}
    if isinstance(value, list) and kind == "array" and isinstance(schema.get("items"), dict):
        return [_coerce_value(v, schema["items"], depth + 1) for v in value]
    return value


def _leading_zero(text: str) -> bool:
    digits = text.lstrip("-")
    return len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
