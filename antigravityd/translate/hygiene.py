"""Request hygiene for upstream ``contents`` (upstream-protocol §11.9), applied after every dialect's translation.

The upstream is stricter than the clients are: no empty ``parts`` arrays or empty text parts (Claude rejects empty
text blocks), roles must alternate (so consecutive same-role contents merge), the conversation starts with a user
turn, the function responses that answer one model turn sit together in the next user turn in the order of the
calls ("the number of function response parts is equal to the number of function call parts"), and Claude models
reject a conversation that ends with a model turn ("does not support assistant message prefill").
"""

from __future__ import annotations

from typing import Any

from antigravityd.translate.signature_cache import usable_signature

__all__ = ["close_tool_loops", "normalize_contents"]

PLACEHOLDER_TEXT = "."
CONTINUE_TEXT = "Continue."
INTERRUPTED_RESULT = "Tool execution interrupted. No result provided."


def normalize_contents(contents: list[dict[str, Any]], family: str) -> list[dict[str, Any]]:
    """Clean contents for ``family``; pure. May return an empty list (the caller decides whether that is an error)."""
    cleaned: list[dict[str, Any]] = []
    for content in contents:
        parts = _clean_parts(content.get("parts", []), keep_carriers=family != "claude")
        if not parts:
            continue
        role = content.get("role", "user")
        if cleaned and cleaned[-1]["role"] == role:
            cleaned[-1] = {**cleaned[-1], "parts": [*cleaned[-1]["parts"], *parts]}
        else:
            cleaned.append({**content, "role": role, "parts": parts})
    if cleaned and cleaned[0]["role"] != "user":
        cleaned.insert(0, {"role": "user", "parts": [{"text": PLACEHOLDER_TEXT}]})
    for i in range(1, len(cleaned)):
        if cleaned[i]["role"] == "user" and cleaned[i - 1]["role"] == "model":
            cleaned[i] = _order_responses(cleaned[i - 1], cleaned[i])
    if family == "claude" and cleaned and cleaned[-1]["role"] == "model":
        cleaned.append({"role": "user", "parts": [{"text": CONTINUE_TEXT}]})
    return cleaned


def _clean_parts(parts: list[dict[str, Any]], *, keep_carriers: bool) -> list[dict[str, Any]]:
    """Drop empty text parts; a Gemini signature riding on one moves to the previous part when that has none."""
    out: list[dict[str, Any]] = []
    for part in parts:
        text = part.get("text")
        if isinstance(text, str) and not text.strip() and len(part) == len(_TEXT_KEYS & part.keys()):
            signature = part.get("thoughtSignature")
            if (keep_carriers and usable_signature(signature) and out and "thoughtSignature" not in out[-1]
                    and "functionResponse" not in out[-1]):
                out[-1] = {**out[-1], "thoughtSignature": signature}
            continue
        out.append(part)
    return out


_TEXT_KEYS = frozenset({"text", "thought", "thoughtSignature"})


def _order_responses(model: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """Function responses first, in the order of the calls they answer; everything else after them."""
    calls = [p["functionCall"] for p in model["parts"] if isinstance(p.get("functionCall"), dict)]
    responses = [p for p in user["parts"] if isinstance(p.get("functionResponse"), dict)]
    if not calls or not responses:
        return user
    others = [p for p in user["parts"] if not isinstance(p.get("functionResponse"), dict)]
    remaining = list(responses)
    ordered: list[dict[str, Any]] = []
    for call in calls:
        match = _find(remaining, call)
        if match is not None:
            ordered.append(match)
            remaining.remove(match)
    return {**user, "parts": [*ordered, *remaining, *others]}


def _find(responses: list[dict[str, Any]], call: dict[str, Any]) -> dict[str, Any] | None:
    call_id = call.get("id")
    if call_id:
        for part in responses:
            if part["functionResponse"].get("id") == call_id:
                return part
    for part in responses:
        response = part["functionResponse"]
        if response.get("name") == call.get("name") and (not call_id or not response.get("id")):
            return part
    return None


def close_tool_loops(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answer every call that the next turn leaves unanswered with an "interrupted" result (§8.3).

    Both model families refuse a history in which a model turn's calls are not all answered in the next user
    turn; clients that cancel a tool run (Claude Code on Esc) send exactly that. Calls are matched by id, or by
    name for id-less Gemini calls. A model turn with calls at the very end stays as it is (the caller decides).
    """
    out = list(contents)
    for i, content in enumerate(out[:-1]):
        if content.get("role") != "model":
            continue
        calls = [p["functionCall"] for p in content.get("parts", []) if isinstance(p.get("functionCall"), dict)]
        if not calls:
            continue
        following = out[i + 1]
        remaining = [p for p in following.get("parts", []) if isinstance(p.get("functionResponse"), dict)]
        missing = []
        for call in calls:
            match = _find(remaining, call)
            if match is None:
                response = {"name": call.get("name", ""), "response": {"result": INTERRUPTED_RESULT}}
                if call.get("id"):
                    response["id"] = call["id"]
                missing.append({"functionResponse": response})
            else:
                remaining.remove(match)
        if missing:
            out[i + 1] = _order_responses(content, {**following, "parts": [*missing, *following["parts"]]})
    return out
