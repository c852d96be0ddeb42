"""OpenAI Responses API request → upstream ``request`` (what Codex speaks).

* ``instructions`` and ``system``/``developer`` messages → the system instruction.
* ``input``: a string (one user turn) or items — ``message`` (``input_text``, ``input_image``, ``input_file``;
  assistant ``output_text``/``refusal``), ``function_call`` (→ ``functionCall`` with the ``call_id``),
  ``function_call_output`` (→ ``functionResponse`` named after its call), ``reasoning`` (its summary text becomes a
  thought part; its ``encrypted_content`` is the thought signature we handed out, so it round-trips exactly).
  Every output must answer an earlier call, and every call must be answered, as OpenAI requires.
* ``tools``: ``function`` tools, also inside ``namespace`` tools (flattened; :func:`tool_namespaces` tells the
  response side which namespace a called function belongs to), ``web_search`` → grounding.
* ``reasoning.effort`` → the shared thinking rules; ``text.format`` → JSON mode / schema; ``max_output_tokens``.
* ``previous_response_id`` needs stored responses, which this gateway does not keep: a clear 400.
"""

from __future__ import annotations

from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import system_instruction
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, generation_config, number_param
from antigravityd.translate.hygiene import normalize_contents
from antigravityd.translate.media import media_url_part
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.openai_chat import parse_tool_arguments
from antigravityd.translate.signatures import apply_history_signatures, claude_thinking_allowed
from antigravityd.translate.tool_args import coerce_tool_args
from antigravityd.translate.tools import ToolChoice, ToolSet, tool_fields

__all__ = ["responses_request_to_upstream", "tool_namespaces"]

_SEARCH_TYPES = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})


def responses_request_to_upstream(body: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    """The inner upstream ``request`` for a Responses body. Raises ClientError for malformed input."""
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    if body.get("previous_response_id") is not None:
        raise ClientError("previous_response_id is not supported: this gateway does not store responses; send the "
                          "whole conversation in input (store: false)", param="previous_response_id")
    family = route.family
    tools = ToolSet(family, clean=ctx.clean_tool_schema)
    _tools(body.get("tools"), tools)
    choice = _tool_choice(body.get("tool_choice"), tools)
    items = _Items(tools)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ClientError("instructions must be a string", param="instructions")
    if instructions:
        items.system.append(instructions)
    contents = items.convert(body.get("input"))

    contents = normalize_contents(contents, family)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=ctx.signatures)
    contents = normalize_contents(contents, family)
    if not contents:
        raise ClientError("input must contain at least one non-empty message", param="input")

    request: dict[str, Any] = {"contents": contents}
    if (system := system_instruction(items.system)) is not None:
        request["systemInstruction"] = system
    request.update(tool_fields(tools, choice))
    request["generationConfig"] = _generation(body, route, ctx, contents)
    return request


def tool_namespaces(body: object) -> dict[str, str]:
    """Function name → namespace, for functions declared inside ``namespace`` tools (the response side adds the
    namespace to the ``function_call`` items it emits)."""
    out: dict[str, str] = {}
    tools = body.get("tools") if isinstance(body, dict) else None
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            for inner in tool.get("tools") or []:
                if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                    out[inner["name"]] = tool["name"]
    return out


# ---------------------------------------------------------------------------------------------------- items


class _Items:
    def __init__(self, tools: ToolSet) -> None:
        self.tools = tools
        self.system: list[str] = []
        self.contents: list[dict[str, Any]] = []
        self.calls: dict[str, str] = {}  # call_id → name, all calls so far
        self.unanswered: dict[str, str] = {}  # call_id → param of the function_call item

    def convert(self, value: object) -> list[dict[str, Any]]:
        if isinstance(value, str):
            return [{"role": "user", "parts": [{"text": value}]}]
        if not isinstance(value, list) or not value:
            raise ClientError("input must be a string or a non-empty array of items", param="input")
        for i, item in enumerate(value):
            param = f"input[{i}]"
            if not isinstance(item, dict):
                raise ClientError(f"{param} must be an object", param=param)
            kind = item.get("type", "message")
            if kind == "message":
                self._message(item, param)
            elif kind == "function_call":
                self._call(item, param)
            elif kind == "function_call_output":
                self._output(item, param)
            elif kind == "reasoning":
                self._reasoning(item, param)
            elif kind == "item_reference":
                raise ClientError(f"{param}: item references need stored responses, which this gateway does not "
                                  "keep", param=f"{param}.type")
            else:
                raise ClientError(f"{param}.type must be message, function_call, function_call_output or reasoning",
                                  param=f"{param}.type")
        if self.unanswered:
            call_id, param = next(iter(self.unanswered.items()))
            raise ClientError(f"no function_call_output found for call_id {call_id!r}", param=param)
        return self.contents

    def _message(self, item: dict[str, Any], param: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            self.system.extend(_texts(content, f"{param}.content", ("input_text", "text")))
        elif role == "user":
            self.contents.append({"role": "user", "parts": _user_parts(content, f"{param}.content")})
        elif role == "assistant":
            texts = _texts(content, f"{param}.content", ("output_text", "text", "refusal", "input_text"))
            self.contents.append({"role": "model", "parts": [{"text": t} for t in texts]})
        else:
            raise ClientError(f"{param}.role must be user, assistant, system or developer", param=f"{param}.role")

    def _call(self, item: dict[str, Any], param: str) -> None:
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise ClientError(f"{param}.call_id must be a non-empty string", param=f"{param}.call_id")
        if not isinstance(name, str) or not name:
            raise ClientError(f"{param}.name must be a non-empty string", param=f"{param}.name")
        args = parse_tool_arguments(item.get("arguments"), f"{param}.arguments")
        if name in self.tools.schemas:
            args = coerce_tool_args(args, self.tools.schemas[name])
        self.calls[call_id] = name
        self.unanswered[call_id] = param
        self.contents.append({"role": "model", "parts": [{"functionCall": {"name": name, "args": args,
                                                                           "id": call_id}}]})

    def _output(self, item: dict[str, Any], param: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or call_id not in self.calls:
            raise ClientError(f"{param}.call_id does not match an earlier function_call", param=f"{param}.call_id")
        self.unanswered.pop(call_id, None)
        output = item.get("output")
        parts: list[dict[str, Any]] = []
        if isinstance(output, str):
            text = output
        elif isinstance(output, list):
            texts = []
            for j, part in enumerate(output):
                if isinstance(part, dict) and part.get("type") in ("input_text", "output_text") and isinstance(
                        part.get("text"), str):
                    texts.append(part["text"])
                else:  # images and files follow the response as their own parts
                    parts.extend(_user_parts([part], f"{param}.output", offset=j))
            if parts:
                texts.append(f"[{len(parts)} attachment(s) below]")
            text = "\n".join(texts)
        else:
            raise ClientError(f"{param}.output must be a string or an array", param=f"{param}.output")
        response = {"functionResponse": {"name": self.calls[call_id], "id": call_id, "response": {"result": text}}}
        self.contents.append({"role": "user", "parts": [response, *parts]})

    def _reasoning(self, item: dict[str, Any], param: str) -> None:
        summary = item.get("summary")
        texts = [s["text"] for s in summary if isinstance(s, dict) and isinstance(s.get("text"), str)] if isinstance(
            summary, list) else []
        signature = item.get("encrypted_content")
        part: dict[str, Any] = {"text": "\n".join(texts), "thought": True}
        if isinstance(signature, str) and signature:
            part["thoughtSignature"] = signature
        if part["text"] or "thoughtSignature" in part:
            self.contents.append({"role": "model", "parts": [part]})


def _texts(content: object, param: str, kinds: tuple[str, ...]) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content parts", param=param)
    out = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in kinds:
            raise ClientError(f"{param}[{j}] must be one of: {', '.join(kinds)}", param=f"{param}[{j}]")
        key = "refusal" if part["type"] == "refusal" else "text"
        if not isinstance(part.get(key), str):
            raise ClientError(f"{param}[{j}].{key} must be a string", param=f"{param}[{j}].{key}")
        out.append(part[key])
    return out


def _user_parts(content: object, param: str, offset: int = 0) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content parts", param=param)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content, start=offset):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "text"):
            if not isinstance(part.get("text"), str):  # type: ignore[union-attr]
                raise ClientError(f"{where}.text must be a string", param=f"{where}.text")
            parts.append({"text": part["text"]})  # type: ignore[index]
        elif kind == "input_image":
            url = part.get("image_url")  # type: ignore[union-attr]
            if not isinstance(url, str):
                raise ClientError(f"{where}.image_url must be a URL (file ids are not supported)",
                                  param=f"{where}.image_url")
            parts.append(media_url_part(url, f"{where}.image_url"))
        elif kind == "input_file":
            data = part.get("file_data") or part.get("file_url")  # type: ignore[union-attr]
            if not isinstance(data, str):
                raise ClientError(f"{where}.file_data must be a data: URL (file ids are not supported)",
                                  param=f"{where}.file_data")
            parts.append(media_url_part(data, f"{where}.file_data", default_mime="application/pdf"))
        else:
            raise ClientError(f"{where}.type must be input_text, input_image or input_file", param=f"{where}.type")
    return parts


# ---------------------------------------------------------------------------------------------------- tools


def _tools(value: object, tools: ToolSet, param: str = "tools") -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ClientError(f"{param} must be an array", param=param)
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = tool.get("type")
        if kind == "function":
            tools.add_function(tool.get("name"), tool.get("description"), tool.get("parameters"), where)
        elif kind == "namespace":
            _tools(tool.get("tools"), tools, f"{where}.tools")
        elif isinstance(kind, str) and kind in _SEARCH_TYPES:
            tools.search = True
        else:
            raise ClientError(f"{where}.type {kind!r}: only function, namespace and web_search tools are supported",
                              param=f"{where}.type")


def _tool_choice(value: object, tools: ToolSet) -> ToolChoice | None:
    if value is None:
        return None
    simple = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
    if isinstance(value, str):
        if value not in simple:
            raise ClientError("tool_choice must be none, auto, required or an object", param="tool_choice")
        return ToolChoice(simple[value])  # type: ignore[arg-type]
    if not isinstance(value, dict):
        raise ClientError("tool_choice must be a string or an object", param="tool_choice")
    if value.get("type") == "function" and isinstance(value.get("name"), str):
        choice = ToolChoice("ANY", (value["name"],))
    elif value.get("type") == "allowed_tools" and isinstance(value.get("tools"), list):
        names = tuple(t["name"] for t in value["tools"] if isinstance(t, dict) and isinstance(t.get("name"), str))
        choice = ToolChoice("ANY", names) if value.get("mode") == "required" else ToolChoice("AUTO")
    elif isinstance(value.get("type"), str) and value["type"] in _SEARCH_TYPES:
        return None
    else:
        raise ClientError("tool_choice object must name a function", param="tool_choice")
    tools.check_choice(choice, "tool_choice")
    return choice


# ---------------------------------------------------------------------------------------------------- config


def _generation(body: dict[str, Any], route: ModelRoute, ctx: TranslateContext,
                contents: list[dict[str, Any]]) -> dict[str, Any]:
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise ClientError("reasoning must be an object", param="reasoning")
    effort = (reasoning or {}).get("effort")
    if effort is not None and not isinstance(effort, str):
        raise ClientError("reasoning.effort must be a string", param="reasoning.effort")
    thinking = ThinkingRequest.from_effort(effort) if effort else ThinkingRequest()
    if route.family == "claude" and not claude_thinking_allowed(contents):
        thinking = ThinkingRequest("off")
    config = generation_config(
        ctx.caps(route),
        thinking=thinking,
        max_tokens=number_param(body, "max_output_tokens", low=1, high=10_000_000, integer=True),  # type: ignore
        temperature=number_param(body, "temperature", low=0, high=2),
        top_p=number_param(body, "top_p", low=0, high=1),
    )
    config.update(_text_format(body.get("text"), ctx))
    return config


def _text_format(value: object, ctx: TranslateContext) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientError("text must be an object", param="text")
    fmt = value.get("format")
    if fmt is None:
        return {}
    if not isinstance(fmt, dict):
        raise ClientError("text.format must be an object", param="text.format")
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if isinstance(fmt.get("schema"), dict):
            out["responseSchema"] = ctx.clean_response_schema(fmt["schema"])
        return out
    raise ClientError("text.format.type must be text, json_object or json_schema", param="text.format.type")
