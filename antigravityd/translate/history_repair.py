"""Repairs of a translated history that every dialect needs (upstream-protocol §8.3 step 5, §9.3).

* :func:`close_tool_loops` — each model turn's calls answered exactly by the next user turn: unanswered calls get
  an "interrupted" result, results that answer no call of the turn before become text (upstream refuses both
  shapes with a 400: Claude "tool_use ids were found without tool_result", Gemini "the number of function
  response parts …").
* :func:`without_thoughts` / :func:`has_thoughts` — for Claude requests that go without thinking.
* :func:`sentinel_history` — the signature-error retry for Gemini targets: no thought parts, the documented
  sentinel on the first call of every model turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from antigravityd.translate.signature_cache import SENTINEL

__all__ = ["INTERRUPTED_RESULT", "close_tool_loops", "has_thoughts", "sentinel_history", "without_thoughts"]

INTERRUPTED_RESULT = "Tool execution interrupted. No result provided."


def close_tool_loops(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answer every unanswered call with an "interrupted" result and turn results that answer nothing into text,
    so that each model turn's calls are answered exactly by the next user turn."""
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of the calls of the model turn just before
    for content in contents:
        parts = content["parts"]
        if content["role"] == "model":
            if pending:  # two model turns in a row cannot happen after merging; be safe anyway
                out.append({"role": "user", "parts": _interrupted(pending)})
            out.append(content)
            pending = [(p["functionCall"].get("id") or "", p["functionCall"].get("name") or "")
                       for p in parts if "functionCall" in p]
            continue
        by_id: dict[str, dict[str, Any]] = {}
        rest: list[dict[str, Any]] = []
        for part in parts:
            response = part.get("functionResponse")
            if response is None:
                rest.append(part)
            elif response.get("id") in by_id or response.get("id") not in {cid for cid, _ in pending}:
                rest.append({"text": _orphan_text(response)})
            else:
                by_id[response["id"]] = part
        responses = [by_id.get(cid) or _interrupted([(cid, name)])[0] for cid, name in pending]
        out.append({"role": "user", "parts": responses + rest})
        pending = []
    if pending:
        out.append({"role": "user", "parts": _interrupted(pending)})
    return out


def _interrupted(calls: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"functionResponse": {"name": name or cid, "id": cid, "response": {"result": INTERRUPTED_RESULT}}}
            for cid, name in calls]


def _orphan_text(response: Mapping[str, Any]) -> str:
    payload = response.get("response") or {}
    value = payload.get("result", payload.get("error", "")) if isinstance(payload, dict) else payload
    return f"[Result of an earlier tool call {response.get('id', '')}]\n{value}"


def without_thoughts(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for content in contents:
        parts = [p for p in content["parts"] if p.get("thought") is not True]
        if parts:
            out.append({**content, "parts": parts})
    return out


def has_thoughts(contents: list[dict[str, Any]]) -> bool:
    return any(p.get("thought") is True for c in contents for p in c["parts"])


def sentinel_history(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for content in contents:
        if content["role"] != "model":
            out.append(content)
            continue
        parts = []
        first = True
        for part in content["parts"]:
            if part.get("thought") is True:
                continue
            bare = {k: v for k, v in part.items() if k != "thoughtSignature"}
            if "functionCall" in part and first:
                bare["thoughtSignature"] = SENTINEL
                first = False
            parts.append(bare)
        if parts:
            out.append({**content, "parts": parts})
    return out
