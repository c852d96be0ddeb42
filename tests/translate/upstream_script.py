"""Build upstream (Cloud Code) stream events for translator tests, and hypothesis strategies for them.

A *script* is the list of parts one model turn produces, in order. :func:`events` splits it into SSE event objects
the way the upstream does: text fragmented arbitrarily, several parts per event or one, cumulative usage on many
events, ``finishReason`` + ``usageMetadata`` on the last one (or no finish at all for a truncated stream).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SIG = "EqQBCqEB" + "a" * 60  # a Gemini-3-looking signature (≥ 50 chars)
CLAUDE_SIG = "RXF3" + "b" * 80


def thought(text: str, signature: str | None = None) -> dict[str, Any]:
    return {"text": text, "thought": True} | ({"thoughtSignature": signature} if signature else {})


def text(value: str, signature: str | None = None) -> dict[str, Any]:
    return {"text": value} | ({"thoughtSignature": signature} if signature else {})


def call(name: str, args: dict[str, Any], call_id: str | None = None, signature: str | None = None) -> dict[str, Any]:
    fc = {"name": name, "args": args} | ({"id": call_id} if call_id else {})
    return {"functionCall": fc} | ({"thoughtSignature": signature} if signature else {})


def image(data: str = "iVBORw0KGgoAAAANSUhEUg", mime: str = "image/png") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": data}}


USAGE = {"promptTokenCount": 88, "candidatesTokenCount": 15, "thoughtsTokenCount": 40, "totalTokenCount": 143}


def wrap(parts: list[dict[str, Any]], *, finish: str | None = None, usage: dict[str, Any] | None = None,
         response_id: str = "r1", index: int | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if index is not None:
        candidate["index"] = index
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-3-flash-a",
                                "responseId": response_id}
    if usage:
        response["usageMetadata"] = usage
    return {"response": response, "traceId": "t1", "metadata": {}}


def events(script: list[dict[str, Any]], cuts: list[int] | None = None, *, finish: str | None = "STOP",
           usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Split ``script`` into events. ``cuts`` are split points inside the flattened text fragments: each text part
    is cut into pieces, and pieces are grouped into events at the cut positions."""
    usage = usage or USAGE
    fragments: list[dict[str, Any]] = []
    cuts = list(cuts or [])
    for part in script:
        if "text" in part and len(part["text"]) > 1 and cuts:
            at = cuts.pop(0) % len(part["text"])
            if at:
                head = {**part, "text": part["text"][:at]}
                head.pop("thoughtSignature", None)
                fragments.extend([head, {**part, "text": part["text"][at:]}])
                continue
        fragments.append(part)
    groups: list[list[dict[str, Any]]] = []
    for n, fragment in enumerate(fragments):
        if not groups or (n % 2 == 0):
            groups.append([])
        groups[-1].append(fragment)
    if not groups:
        groups = [[]]
    out = []
    partial = {"promptTokenCount": usage.get("promptTokenCount", 0),
               "totalTokenCount": usage.get("promptTokenCount", 0)}
    for n, group in enumerate(groups):
        last = n == len(groups) - 1
        out.append(wrap(group, finish=finish if last else None, usage=usage if last and finish else partial))
    return out


# ---------------------------------------------------------------------------------------------------- strategies

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
arg_values = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6),
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                          max_leaves=8)
parts = st.one_of(
    st.builds(thought, words, st.sampled_from([None, SIG])),
    st.builds(text, words),
    st.builds(call, st.sampled_from(["get_weather", "read_file", "bash"]),
              st.dictionaries(st.sampled_from(["type", "path", "format", "city", "items"]), arg_values, max_size=3),
              st.sampled_from([None, None, "toolu_vrtx_01abc", "toolu_vrtx_01def"]), st.sampled_from([None, SIG])),
    st.builds(image),
)
scripts = st.lists(parts, max_size=8)
