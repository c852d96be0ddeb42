"""A plain SSE parser for tests (the WHATWG event-stream rules, enough for our dialects): text in, events out."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(raw: bytes | str) -> list[tuple[str | None, Any]]:
    """``[(event name or None, parsed data)]``; ``data: [DONE]`` stays the string ``"[DONE]"``; comments skipped."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    events: list[tuple[str | None, Any]] = []
    name: str | None = None
    data: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                payload = "\n".join(data)
                events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
            name, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        raise AssertionError("stream ended inside an event (no blank line after the last data line)")
    return events
