"""A strict checker for the Vertex ``Schema`` proto (upstream-protocol §10.1), as a fake upstream would apply it.

``proto_schema_problems(schema)`` lists every place where the upstream would answer 400: unknown keys, a type that
is not one proto type name, boolean or non-object sub-schemas, non-string enum members, a ``required`` that is not
a list of strings. Empty list = acceptable. ``allowed`` narrows the key set (our cleaner promises a subset).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

PROTO_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
})
PROTO_TYPES = frozenset({"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})


def proto_schema_problems(schema: Any, allowed: Collection[str] = PROTO_KEYS, path: str = "parameters") -> list[str]:
    problems: list[str] = []
    _check(schema, frozenset(allowed), path, problems, 0)
    return problems


def _check(node: Any, allowed: frozenset[str], path: str, problems: list[str], depth: int) -> None:
    if depth > 200:
        problems.append(f"{path}: nested deeper than 200")
        return
    if not isinstance(node, dict):
        problems.append(f"Invalid value at '{path}' (Schema), {node!r}")
        return
    for key, value in node.items():
        where = f"{path}.{key}"
        if key not in allowed:
            problems.append(f"Unknown name {key!r} at '{path}'")
        elif key == "type":
            if not isinstance(value, str) or value.upper() not in PROTO_TYPES:
                problems.append(f"Invalid value at '{where}': {value!r}")
        elif key in ("description", "title", "format", "pattern"):
            if not isinstance(value, str):
                problems.append(f"Invalid value at '{where}': expected a string")
        elif key == "nullable":
            if not isinstance(value, bool):
                problems.append(f"Invalid value at '{where}': expected a boolean")
        elif key in ("enum", "required", "propertyOrdering"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"Invalid value at '{where}': expected a list of strings")
        elif key == "properties":
            if not isinstance(value, dict):
                problems.append(f"Invalid value at '{where}': expected a map")
            else:
                for name, sub in value.items():
                    _check(sub, allowed, f"{where}[{name!r}]", problems, depth + 1)
        elif key == "items":
            _check(value, allowed, where, problems, depth + 1)
        elif key == "anyOf":
            if not isinstance(value, list):
                problems.append(f"Invalid value at '{where}': expected a list")
            else:
                for i, sub in enumerate(value):
                    _check(sub, allowed, f"{where}[{i}]", problems, depth + 1)
        elif key in ("maxItems", "minItems", "minProperties", "maxProperties", "minLength", "maxLength"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"Invalid value at '{where}': expected an integer")
        elif key in ("minimum", "maximum") and (not isinstance(value, int | float) or isinstance(value, bool)):
            problems.append(f"Invalid value at '{where}': expected a number")
