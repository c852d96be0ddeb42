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
(upstream-protocol §10.5 #1). Arguments have their own module, ``tool_args``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from antigravityd.translate.schema_nodes import (
    branch_score,
    brief,
    camel_keywords,
    finish_node,
    is_null_schema,
    is_number,
    join,
    looks_like_bare_properties,
    merge_raw,
    only,
    read_type,
    schema_children,
)

__all__ = [
    "MAX_DEPTH",
    "PROTO_SCHEMA_KEYS",
    "RESPONSE_SCHEMA_KEYS",
    "TOOL_SCHEMA_KEYS",
    "SchemaCache",
    "clean_response_schema",
    "clean_tool_schema",
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

# Keys that, moved into the description, still tell the model something useful. Order = order in the hint.
_HINTED = ("format", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
           "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
           "default")
# Keywords whose values are sub-schemas (walked when collecting $defs); everything else is data or annotation.
_HINTED_SET = frozenset(_HINTED)


def clean_tool_schema(schema: object) -> dict[str, Any]:
    """A ``functionDeclarations[].parameters`` value: always an object schema with only :data:`TOOL_SCHEMA_KEYS`."""
    if isinstance(schema, dict) and looks_like_bare_properties(schema):
        schema = {"type": "object", "properties": schema}  # MCP servers sometimes send just the property map
    cleaner = _Cleaner(schema, response=False)
    out = cleaner.clean(schema, (), 0) or {}
    if out.get("type") != "object":
        # A tool's parameters are always an object; keep what we can say about them.
        out = {"type": "object", "properties": out.get("properties", {}), **only(out, ("description", "required"))}
        finish_node(out, response=False)
    return out


def clean_response_schema(schema: object) -> dict[str, Any]:
    """A ``generationConfig.responseSchema`` value: the same rewriting, milder about what it keeps."""
    cleaner = _Cleaner(schema, response=True)
    return cleaner.clean(schema, (), 0) or {}


class SchemaCache:
    """Cleaned schemas by the canonical JSON of their input, bounded LRU; one per process, shared by requests.

    Agents send the same tool list on every turn (Claude Code: two dozen tools, tens of KB), so cleaning them
    again each time would dominate a request's translation cost. Returned schemas are shared between requests:
    callers must not modify them.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[bool, bytes], dict[str, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def clean_tool_schema(self, schema: object) -> dict[str, Any]:
        return self._get(schema, response=False)

    def clean_response_schema(self, schema: object) -> dict[str, Any]:
        return self._get(schema, response=True)

    def _get(self, schema: object, *, response: bool) -> dict[str, Any]:
        clean = clean_response_schema if response else clean_tool_schema
        try:
            key = (response, orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
        except (TypeError, orjson.JSONEncodeError):
            return clean(schema)  # not plain JSON (or nested too deeply for orjson): clean without caching
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        cleaned = self._entries[key] = clean(schema)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return cleaned


class _Cleaner:
    def __init__(self, root: object, *, response: bool) -> None:
        self.root = root
        self.response = response
        self.budget = MAX_NODES
        self._defs: dict[str, object] | None = None  # built on first need: most refs resolve as JSON pointers

    # -------------------------------------------------------------------------------------- references

    def _collect_defs(self, root: object) -> dict[str, object]:
        """Every ``$defs``/``definitions`` entry at any schema position, first one of a name winning."""
        defs: dict[str, object] = {}
        stack: list[tuple[object, int]] = [(root, 0)]
        visited = 0
        while stack and visited < MAX_NODES:
            node, depth = stack.pop()
            visited += 1
            if not isinstance(node, dict) or depth > MAX_DEPTH:
                continue
            for key in ("$defs", "definitions"):
                found = node.get(key)
                if isinstance(found, dict):
                    for name, value in found.items():
                        defs.setdefault(name, value)
            stack.extend((child, depth + 1) for child in schema_children(node))
        return defs

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
        if self._defs is None:
            self._defs = self._collect_defs(self.root)
        return self._defs.get(ref.rsplit("/", 1)[-1])

    def _expand(self, node: dict[str, Any], refs: tuple[str, ...], depth: int) -> tuple[dict[str, Any], tuple]:
        """Resolve the node's own ``$ref`` chain and ``allOf`` into one plain dict (no recursion into children)."""
        node = camel_keywords(node)
        while "$ref" in node:
            ref = node["$ref"]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not isinstance(ref, str):
                node = siblings
                break
            name = ref.rsplit("/", 1)[-1] or ref
            if ref in refs or len(refs) >= MAX_DEPTH:
                node = {**siblings, "type": "object"}
                node["description"] = join(siblings.get("description"), f"(recursive: {name})")
                node.pop("properties", None)
                break
            target = self._lookup(ref)
            if not isinstance(target, dict):
                node = {**siblings, "type": siblings.get("type", "string")}
                node["description"] = join(siblings.get("description"), f"(unresolved reference: {name})")
                break
            refs = (*refs, ref)
            node = {**camel_keywords(target), **siblings}
        branches = node.get("allOf")
        if branches is not None:
            node = {k: v for k, v in node.items() if k != "allOf"}
            if isinstance(branches, list) and depth < MAX_DEPTH:
                for branch in branches:
                    if isinstance(branch, dict) and self._spend():
                        expanded, _ = self._expand(branch, refs, depth + 1)
                        merge_raw(node, expanded)
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

        kind, type_nullable, accepts = read_type(node.get("type"))
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

        for key in _HINTED if not _HINTED_SET.isdisjoint(node) else ():
            if key not in node:
                continue
            value = node[key]
            if self.response and key in _NATIVE_RESPONSE_CONSTRAINTS and is_number(value):
                out[key] = value
            elif key != "format" or isinstance(value, str):
                hints.append(f"{key}: {brief(value)}")

        union = [b for key in ("anyOf", "oneOf") if isinstance(node.get(key), list) for b in node[key]] if (
            "anyOf" in node or "oneOf" in node) else None
        if union:
            nullable = self._merge_union(out, union, refs, depth, hints) or nullable

        if nullable:
            out["nullable"] = True
        if hints:
            out["description"] = join(out.get("description"), "(" + ", ".join(hints) + ")")
        finish_node(out, response=self.response)
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
            if is_null_schema(expanded):
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
            best = max(branches, key=branch_score)  # max() keeps the first of equal scores
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
