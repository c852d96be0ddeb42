"""Make a JSON value that validates against a (JSON or OpenAPI-subset) schema — the fake's JSON mode.

gemini-cli's router call (stack-notes pitfall 14) asks for ``responseMimeType: application/json`` with a
``responseJsonSchema``; plain text there makes it retry five times. Values are deterministic: the first enum
member, ``const``, the minimum for numbers, ``minItems`` (at least one) array items, every declared property.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 12


def instance(schema: Any, *, hint: str = "", root: Any = None, depth: int = 0) -> Any:
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return hint or "value"
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        return instance(target, hint=hint, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if not (isinstance(o, dict) and _types(o) == ["null"])]
        if options:
            return instance(options[0], hint=hint, root=root, depth=depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged = _merge(merged, part)
        return instance(merged, hint=hint, root=root, depth=depth + 1)
    kind = next((t for t in _types(schema) if t != "null"), None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        out: dict[str, Any] = {}
        for name, sub in (schema.get("properties") or {}).items():
            out[name] = instance(sub, hint=name, root=root, depth=depth + 1)
        return out
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 0))
        return [instance(schema.get("items") or {}, hint=hint, root=root, depth=depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(_number(schema, 1))
    if kind == "number":
        return float(_number(schema, 0.5))
    if kind == "boolean":
        return True
    return _string(schema, hint)


def _types(schema: dict) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k).lower() for k in kind]
    return [str(kind).lower()] if kind else []


def _number(schema: dict, default: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = default if low is None else (low + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else low)
    if high is not None and value > high:
        value = high
    return value


def _string(schema: dict, hint: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "date":
        return "2026-01-01"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    if fmt == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    text = f"{hint} value" if hint else "value"
    min_len = int(schema.get("minLength") or 0)
    if len(text) < min_len:
        text += "x" * (min_len - len(text))
    if (max_len := schema.get("maxLength")) is not None:
        text = text[: int(max_len)]
    return text


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}
    node = root
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return {}
        node = node[token]
    return node


def _merge(a: dict, b: dict) -> dict:
    out = {**a, **b}
    if "properties" in a or "properties" in b:
        out["properties"] = {**(a.get("properties") or {}), **(b.get("properties") or {})}
    return out
