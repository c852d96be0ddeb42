"""Real request bodies captured from clients (/work/shared/reference/client-captures), loaded once per test."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

CAPTURES = Path("/work/shared/reference/client-captures")


@functools.cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text(encoding="utf-8"))


def requests(name: str) -> list[dict[str, Any]]:
    """Every captured request of one client (all runs), deep-copied so tests may modify them."""
    data = _load(name)
    if "requests" in data:
        return copy.deepcopy(data["requests"])
    return copy.deepcopy([r for run in data["runs"].values() for r in run])


def bodies(name: str, path_part: str) -> list[dict[str, Any]]:
    return [r["body"] for r in requests(name) if path_part in r["path"]]


def gemini_cli_router_body() -> dict[str, Any]:
    return bodies("gemini-cli.json", ":generateContent")[0]


def gemini_cli_stream_body() -> dict[str, Any]:
    return bodies("gemini-cli.json", ":streamGenerateContent")[0]
