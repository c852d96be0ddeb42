"""Deterministic replies, driven by a tiny directive language in the LAST user text part.

Directives are ``[[name]]`` or ``[[name:argument]]`` anywhere in the last user text part; they are removed before
the text is echoed. See the package docstring (``tests/fake_upstream/__init__.py``) for the full table.

The reply is planned as a list of *events* (lists of parts) and turned into ``streamGenerateContent`` events
(cumulative ``usageMetadata`` on every event, ``finishReason`` + final usage on the last one, no ``[DONE]``) or
merged into one ``generateContent`` response (upstream-protocol.md §3).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from . import jsonfake
from .models import ModelSpec
from .proto import get
from .validation import claude_thinking_enabled, estimate_tokens, parts_of, responses_of

DIRECTIVE = re.compile(r"\[\[([a-z_]+)(?::(.*?))?\]\]", re.S)
VERSION_GATE_TEXT = "This version of Antigravity is no longer supported. Please update to receive the latest features!"
UTF8_PREFIX = "Grüße 世界 "


@dataclass
class Directives:
    calls: list[tuple[str, dict]] = field(default_factory=list)
    image: bool = False
    chunks: int | None = None
    delay_ms: float = 0.0
    first_byte_ms: float = 0.0
    say: str | None = None
    think: str | None = None
    finish: str | None = None
    text: str = ""  # the last user text with directives removed


def parse_directives(text: str) -> Directives:
    d = Directives()
    for match in DIRECTIVE.finditer(text):
        name, arg = match.group(1), match.group(2)
        arg = arg.strip() if arg is not None else ""
        if name == "call":
            fn, _, raw = arg.partition(" ")
            args: Any = {}
            if raw.strip():
                try:
                    args = json.loads(raw)
                except ValueError:
                    args = {"input": raw.strip()}
            d.calls.append((fn, args if isinstance(args, dict) else {"value": args}))
        elif name == "image":
            d.image = True
        elif name == "chunks":
            d.chunks = max(1, min(100_000, int(arg or 1)))
        elif name == "delay_ms":
            d.delay_ms = float(arg or 0)
        elif name == "first_byte_ms":
            d.first_byte_ms = float(arg or 0)
        elif name == "say":
            d.say = match.group(2) or ""
        elif name == "think":
            d.think = match.group(2) or ""
        elif name == "finish":
            d.finish = arg.upper() or "STOP"
    d.text = " ".join(DIRECTIVE.sub(" ", text).split())
    return d


def last_user_text(contents: list[dict]) -> tuple[str, list[dict]]:
    """(last text part of the last user content, that content's functionResponse objects)."""
    for content in reversed(contents):
        if get(content, "role") != "user":
            continue
        texts = [get(p, "text") for p in parts_of(content)
                 if isinstance(get(p, "text"), str) and not get(p, "thought")]
        return (texts[-1] if texts else ""), [r for _, r in responses_of(content)]
    return "", []


def snippet(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_summary(responses: list[dict]) -> str:
    items = []
    for response in responses:
        payload = get(response, "response", {})
        value = payload.get("result", payload) if isinstance(payload, dict) and len(payload) == 1 else payload
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        items.append(f"{get(response, 'name', '?')} -> {snippet(shown, 200)}")
    return "Tool results: " + "; ".join(items)


def tiny_png() -> str:
    """A valid 1x1 PNG (base64), made here rather than pasted as an opaque blob."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode("ascii")


def split_text(text: str, pieces: int | None, size: int) -> list[str]:
    if not text:
        return []
    if pieces is None:
        return [text[i:i + size] for i in range(0, len(text), size)]
    while len(text) < pieces:  # pad deterministically so every event carries a non-empty fragment
        text += " lorem ipsum"
    bounds = [round(i * len(text) / pieces) for i in range(pieces + 1)]
    return [text[bounds[i]:bounds[i + 1]] for i in range(pieces)]


def tokens(text: str) -> int:
    return (len(text) + 3) // 4


# ------------------------------------------------------------------------------------------------ planning


@dataclass
class Plan:
    events: list[list[list[dict]]]  # event -> candidate -> parts
    finish_reason: str
    prompt_tokens: int
    candidate_tokens: list[int]  # cumulative visible tokens after each event
    thought_tokens: list[int]  # cumulative thought tokens after each event
    delay: float = 0.0  # seconds between events
    first_byte_delay: float = 0.0


@dataclass
class Context:
    model: ModelSpec
    request: dict
    issue_signature: Any  # (family, model) -> str
    new_call_id: Any  # () -> str
    gemini_call_ids: bool = False
    claude_signature_position: str = "separate"
    fragment_chars: int = 24
    version_gated: bool = False
    utf8_prefix: bool = False


def plan_reply(ctx: Context) -> Plan:
    request = ctx.request
    contents = [c for c in get(request, "contents", []) or [] if isinstance(c, dict)]
    text, responses = last_user_text(contents)
    d = parse_directives(text)
    cfg = get(request, "generationConfig", {}) or {}
    n = max(1, int(get(cfg, "candidateCount", 1) or 1))
    per_candidate = [_plan_candidate(ctx, d, responses, cfg, i) for i in range(n)]
    length = max(len(c[0]) for c in per_candidate)
    events: list[list[list[dict]]] = []
    cand_tokens, thought_tokens = [], []
    for e in range(length):
        events.append([c[0][e] if e < len(c[0]) else [] for c in per_candidate])
        cand_tokens.append(sum(c[1][min(e, len(c[1]) - 1)] if c[1] else 0 for c in per_candidate))
        thought_tokens.append(sum(c[2][min(e, len(c[2]) - 1)] if c[2] else 0 for c in per_candidate))
    finish = d.finish or per_candidate[0][3]
    return Plan(events or [[[] for _ in range(n)]], finish, estimate_tokens(request), cand_tokens or [0],
                thought_tokens or [0], delay=d.delay_ms / 1000, first_byte_delay=d.first_byte_ms / 1000)


def _thinking(ctx: Context, cfg: dict) -> tuple[bool, bool]:
    """(the model thinks, thought text is shown)."""
    model = ctx.model
    thinking = get(cfg, "thinkingConfig", {}) or {}
    budget = get(thinking, "thinkingBudget")
    if not model.thinking or (budget is not None and int(budget) == 0):
        return False, False
    if model.family == "claude":
        on = claude_thinking_enabled(model, ctx.request)
        return on, on  # Anthropic returns thinking blocks whenever thinking is enabled
    include = get(thinking, "includeThoughts") is True
    on = include or model.always_thinks or (budget is not None and int(budget) > 0) \
        or get(thinking, "thinkingLevel") is not None
    return on, on and include


def _plan_candidate(ctx: Context, d: Directives, responses: list[dict], cfg: dict,
                    index: int) -> tuple[list[list[dict]], list[int], list[int], str]:
    model = ctx.model
    claude = model.family == "claude"
    thinks, show = _thinking(ctx, cfg)
    finish = "STOP"

    # What to say.
    calls = [] if ctx.version_gated else list(d.calls)
    json_mode = get(cfg, "responseMimeType") == "application/json"
    if ctx.version_gated:
        answer = VERSION_GATE_TEXT
    elif d.say is not None:
        answer = d.say
    elif calls:
        answer = ""
    elif json_mode:
        schema = get(cfg, "responseJsonSchema") or get(cfg, "responseSchema")
        value = jsonfake.instance(schema) if schema else {"answer": f"Echo: {snippet(d.text)}"}
        answer = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif responses:
        answer = tool_summary(responses)
    elif model.image:
        answer = "Here is the image."
    else:
        answer = f"Echo: {snippet(d.text) or '(no text)'}"
    if index and answer and not json_mode:
        answer += f" (candidate {index + 1})"
    if ctx.utf8_prefix and answer.isascii():
        answer = UTF8_PREFIX + answer
    want_image = (d.image or model.image) and not ctx.version_gated

    # Output limits: stop sequences cut the text, maxOutputTokens truncates it (finishReason MAX_TOKENS).
    for stop in get(cfg, "stopSequences", []) or []:
        if stop and stop in answer:
            answer = answer[: answer.index(stop)]
    max_out = get(cfg, "maxOutputTokens")
    call_tokens = sum(tokens(name + json.dumps(args)) for name, args in calls)
    if max_out is not None and tokens(answer) + call_tokens > int(max_out):
        answer, calls, want_image, finish = answer[: int(max_out) * 4], [], False, "MAX_TOKENS"

    events: list[list[dict]] = []
    vis: list[int] = []
    tho: list[int] = []
    visible_total = thought_total = 0

    def emit(parts: list[dict], visible: int = 0, thought: int = 0) -> None:
        nonlocal visible_total, thought_total
        visible_total += visible
        thought_total += thought
        events.append(parts)
        vis.append(visible_total)
        tho.append(thought_total)

    # Thoughts.
    if thinks:
        thought_text = d.think if d.think is not None else f"Thinking about the request: {snippet(d.text, 60)}"
        fragments = split_text(thought_text, None, max(8, len(thought_text) // 2 + 1)) if thought_text else []
        if show:
            for frag in fragments:
                emit([{"text": frag, "thought": True}], thought=tokens(frag))
        else:
            thought_total += tokens(thought_text)
        if claude and show:
            sig = ctx.issue_signature("claude", model.id)
            if ctx.claude_signature_position == "last_fragment" and events:
                events[-1][-1]["thoughtSignature"] = sig
            else:
                emit([{"text": "", "thought": True, "thoughtSignature": sig}])

    # Visible text, image, calls.
    for frag in split_text(answer, d.chunks, ctx.fragment_chars):
        emit([{"text": frag}], visible=tokens(frag))
    if want_image:
        emit([{"inlineData": {"mimeType": "image/png", "data": tiny_png()}}], visible=258)
    if calls:
        parts = []
        for k, (name, args) in enumerate(calls):
            call: dict[str, Any] = {"name": name, "args": args}
            if claude or ctx.gemini_call_ids:
                call["id"] = ctx.new_call_id()
            part: dict[str, Any] = {"functionCall": call}
            if k == 0 and thinks and model.gemini3:
                part["thoughtSignature"] = ctx.issue_signature("gemini", model.id)
            parts.append(part)
        emit(parts, visible=call_tokens)
    elif thinks and model.gemini3:
        # The signature carrier: an empty text part whose only job is to deliver the signature (§3.3).
        carrier = {"text": "", "thoughtSignature": ctx.issue_signature("gemini", model.id)}
        if events and not any("thought" in p for p in events[-1]):
            events[-1].append(carrier)
        else:
            emit([carrier])
    if not claude:
        return events, vis, tho, finish
    # Claude has no separate thought count upstream (❓ §3.4.3): fold thoughts into candidates.
    return events, [v + t for v, t in zip(vis, tho, strict=True)], [0] * len(vis), finish


# ------------------------------------------------------------------------------------------------ rendering


def usage(plan: Plan, e: int, claude: bool) -> dict:
    out = {"promptTokenCount": plan.prompt_tokens}
    cand = plan.candidate_tokens[e] if plan.candidate_tokens else 0
    thought = plan.thought_tokens[e] if plan.thought_tokens else 0
    if cand:
        out["candidatesTokenCount"] = cand
    if thought and not claude:
        out["thoughtsTokenCount"] = thought
    out["totalTokenCount"] = plan.prompt_tokens + cand + thought
    return out


def wrap(response: dict, trace_id: str) -> dict:
    return {"response": response, "traceId": trace_id, "metadata": {}}


def stream_events(plan: Plan, *, model_version: str, response_id: str, claude: bool,
                  upto: int | None = None, final: bool = True) -> list[dict]:
    """The GenerateContentResponse of each event (unwrapped). ``upto``/``final`` shape cut or thought-only streams."""
    out = []
    count = len(plan.events) if upto is None else min(upto, len(plan.events))
    for e in range(count):
        last = final and e == len(plan.events) - 1
        candidates = []
        for i, parts in enumerate(plan.events[e]):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
            if i:
                candidate["index"] = i
            if last:
                candidate["finishReason"] = plan.finish_reason
            candidates.append(candidate)
        out.append({"candidates": candidates, "usageMetadata": usage(plan, e, claude),
                    "modelVersion": model_version, "responseId": response_id})
    return out


def merged_response(plan: Plan, *, model_version: str, response_id: str, claude: bool) -> dict:
    """The non-stream equivalent: every candidate's parts concatenated, adjacent text fragments merged."""
    candidates = []
    n = len(plan.events[0]) if plan.events else 1
    for i in range(n):
        merged: list[dict] = []
        for event in plan.events:
            for part in event[i] if i < len(event) else []:
                prev = merged[-1] if merged else None
                if (prev is not None and "text" in part and "text" in prev and not prev.get("thoughtSignature")
                        and bool(prev.get("thought")) == bool(part.get("thought"))):
                    prev["text"] += part["text"]
                    if "thoughtSignature" in part:
                        prev["thoughtSignature"] = part["thoughtSignature"]
                else:
                    merged.append(dict(part))
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": merged}, "finishReason": plan.finish_reason}
        if i:
            candidate["index"] = i
        candidates.append(candidate)
    return {"candidates": candidates, "usageMetadata": usage(plan, len(plan.events) - 1, claude),
            "modelVersion": model_version, "responseId": response_id}


def thoughts_only_events(plan: Plan, count: int, *, model_version: str, response_id: str) -> list[dict]:
    return [{"candidates": [{"content": {"role": "model", "parts": [{"text": f"thinking {k}…", "thought": True}]}}],
             "usageMetadata": {"promptTokenCount": plan.prompt_tokens, "thoughtsTokenCount": k + 1,
                               "totalTokenCount": plan.prompt_tokens + k + 1},
             "modelVersion": model_version, "responseId": response_id} for k in range(count)]
