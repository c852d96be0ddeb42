"""Tool-call arguments replayed in history, made to match the declared schema (upstream-protocol §10.5 #12).

Models sometimes produce ``"5"`` where the schema says integer; replayed to a model running in ``VALIDATED`` mode,
such history is refused. We coerce only what is safe, only where the (cleaned) schema says so, and never run the
schema cleaner over arguments — they are data, and their keys may look like schema keywords.
"""

from __future__ import annotations

import re
from typing import Any

from antigravityd.translate.schema import MAX_DEPTH

__all__ = ["coerce_tool_args"]

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")

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
