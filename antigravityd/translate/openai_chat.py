"""OpenAI Chat Completions request → upstream ``request`` (upstream-protocol §8.1).

:func:`chat_request_to_upstream` validates as strictly as OpenAI does — a malformed body is a
:class:`ClientError` naming the field — and builds the Vertex request: system/developer messages become the system
instruction, user/assistant turns become contents (images as ``inlineData``/``fileData``, assistant
``reasoning_content`` as a thought part, ``tool_calls`` as ``functionCall`` parts with their ids), ``tool``
messages become ``functionResponse`` parts named after the call they answer. Every ``tool_call_id`` must answer a
call of the assistant message right before it, and every call must be answered — as OpenAI itself requires.

Then the shared rules run: contents hygiene, the thought-signature rules for the target family, the tool
declarations and the generation config. The response side is ``openai_chat_stream``.
"""

from __future__ import annotations

import json
from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import system_instruction
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, generation_config, number_param, stop_sequences
from antigravityd.translate.hygiene import normalize_contents
from antigravityd.translate.media import inline_part, media_url_part
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.signatures import apply_history_signatures, claude_thinking_allowed
from antigravityd.translate.tool_args import coerce_tool_args
from antigravityd.translate.tools import ToolChoice, ToolSet, tool_fields

__all__ = ["chat_request_to_upstream", "parse_tool_arguments", "strip_undefined"]

UNDEFINED = "[undefined]"
_MAX_CLEAN_DEPTH = 200


def strip_undefined(value: Any, depth: int = 0) -> Any:
    """Drop object members whose value is the string ``"[undefined]"`` (left by some JS clients, §11.9)."""
    if depth > _MAX_CLEAN_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: strip_undefined(v, depth + 1) for k, v in value.items() if v != UNDEFINED}
    if isinstance(value, list):
        return [strip_undefined(v, depth + 1) for v in value]
    return value


def parse_tool_arguments(arguments: object, param: str) -> dict[str, Any]:
    """A tool call's ``arguments`` (a JSON string, or an object some clients send) → an args object."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        raise ClientError(f"{param} must be a JSON string", param=param)
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise ClientError(f"{param} is not valid JSON", param=param) from None
    if not isinstance(parsed, dict):
        raise ClientError(f"{param} must encode a JSON object", param=param)
    return parsed


def chat_request_to_upstream(body: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    """The inner upstream ``request`` for a Chat Completions body. Raises ClientError for malformed input."""
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    body = strip_undefined(body)
    family = route.family
    tools = _tools(body, family, ctx)
    choice = _tool_choice(body.get("tool_choice"), tools)
    system_texts, contents = _Messages(tools).convert(body.get("messages"))

    contents = normalize_contents(contents, family)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=ctx.signatures)
    contents = normalize_contents(contents, family)
    if not contents:
        raise ClientError("messages must contain at least one non-empty user or assistant message", param="messages")

    request: dict[str, Any] = {"contents": contents}
    if (system := system_instruction(system_texts)) is not None:
        request["systemInstruction"] = system
    request.update(tool_fields(tools, choice))
    request["generationConfig"] = _generation(body, route, ctx, contents)
    return request


# ---------------------------------------------------------------------------------------------------- messages


class _Messages:
    def __init__(self, tools: ToolSet) -> None:
        self.tools = tools
        self.system: list[str] = []
        self.contents: list[dict[str, Any]] = []
        self.pending: dict[str, str] = {}  # tool_call id → function name, for the latest assistant turn
        self.pending_param = ""

    def convert(self, messages: object) -> tuple[list[str], list[dict[str, Any]]]:
        if not isinstance(messages, list) or not messages:
            raise ClientError("messages must be a non-empty array", param="messages")
        for i, message in enumerate(messages):
            param = f"messages[{i}]"
            if not isinstance(message, dict):
                raise ClientError(f"{param} must be an object", param=param)
            role = message.get("role")
            if role in ("system", "developer"):
                self.system.extend(_texts(message.get("content"), f"{param}.content"))
                continue
            if role != "tool":
                self._require_answers()
            if role == "user":
                self.contents.append({"role": "user", "parts": _user_parts(message.get("content"), param)})
            elif role == "assistant":
                self.contents.append({"role": "model", "parts": self._assistant_parts(message, param)})
            elif role == "tool":
                self.contents.append({"role": "user", "parts": [self._tool_result(message, param)]})
            elif role == "function":
                raise ClientError(f"{param}.role 'function' (legacy function calling) is not supported; "
                                  "use tools and tool_calls", param=f"{param}.role")
            else:
                raise ClientError(f"{param}.role must be one of system, developer, user, assistant, tool",
                                  param=f"{param}.role")
        self._require_answers()
        return self.system, self.contents

    def _require_answers(self) -> None:
        if self.pending:
            missing = ", ".join(sorted(self.pending))
            raise ClientError(
                f"{self.pending_param} has tool_calls that are not answered by tool messages right after it "
                f"(missing tool_call_id: {missing})", param=self.pending_param)

    def _assistant_parts(self, message: dict[str, Any], param: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning.strip():
            parts.append({"text": reasoning, "thought": True})
        parts.extend({"text": t} for t in _texts(message.get("content"), f"{param}.content", assistant=True))
        calls = message.get("tool_calls")
        if calls is None:
            return parts
        if not isinstance(calls, list):
            raise ClientError(f"{param}.tool_calls must be an array", param=f"{param}.tool_calls")
        for j, call in enumerate(calls):
            parts.append(self._call(call, f"{param}.tool_calls[{j}]"))
        self.pending_param = param
        return parts

    def _call(self, call: object, param: str) -> dict[str, Any]:
        if not isinstance(call, dict):
            raise ClientError(f"{param} must be an object", param=param)
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise ClientError(f"{param}.id must be a non-empty string", param=f"{param}.id")
        if call_id in self.pending:
            raise ClientError(f"{param}.id {call_id!r} is used twice in one message", param=f"{param}.id")
        if call.get("type", "function") != "function":
            raise ClientError(f"{param}.type must be 'function'", param=f"{param}.type")
        function = call.get("function")
        if not isinstance(function, dict):
            raise ClientError(f"{param}.function must be an object", param=f"{param}.function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError(f"{param}.function.name must be a non-empty string", param=f"{param}.function.name")
        args = parse_tool_arguments(function.get("arguments"), f"{param}.function.arguments")
        if name in self.tools.schemas:
            args = coerce_tool_args(args, self.tools.schemas[name])
        self.pending[call_id] = name
        return {"functionCall": {"name": name, "args": args, "id": call_id}}

    def _tool_result(self, message: dict[str, Any], param: str) -> dict[str, Any]:
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ClientError(f"{param}.tool_call_id must be a non-empty string", param=f"{param}.tool_call_id")
        name = self.pending.pop(call_id, None)
        if name is None:
            raise ClientError(f"{param}.tool_call_id {call_id!r} does not answer a tool call of the preceding "
                              "assistant message", param=f"{param}.tool_call_id")
        result = "\n".join(_texts(message.get("content"), f"{param}.content"))
        return {"functionResponse": {"name": name, "id": call_id, "response": {"result": result}}}


def _texts(content: object, param: str, *, assistant: bool = False) -> list[str]:
    """The text of a system/assistant/tool content: a string or an array of text (or refusal) parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content parts", param=param)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise ClientError(f"{param}[{j}] must be an object", param=f"{param}[{j}]")
        kind = part.get("type")
        key = "refusal" if assistant and kind == "refusal" else "text"
        if kind not in ("text", "refusal" if assistant else "text") or not isinstance(part.get(key), str):
            raise ClientError(f"{param}[{j}] must be a text part", param=f"{param}[{j}]")
        texts.append(part[key])
    return texts


def _user_parts(content: object, param: str) -> list[dict[str, Any]]:
    param = f"{param}.content"
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content parts", param=param)
    parts = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise ClientError(f"{where}.text must be a string", param=f"{where}.text")
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(media_url_part(url, f"{where}.image_url.url"))
        elif kind == "input_audio":
            audio = part.get("input_audio")
            if not isinstance(audio, dict):
                raise ClientError(f"{where}.input_audio must be an object", param=f"{where}.input_audio")
            fmt = audio.get("format") if isinstance(audio.get("format"), str) else "wav"
            parts.append(inline_part(f"audio/{fmt}", audio.get("data"), f"{where}.input_audio.data"))
        elif kind == "file":
            file = part.get("file")
            data = file.get("file_data") if isinstance(file, dict) else None
            if not isinstance(data, str):
                raise ClientError(f"{where}.file.file_data must be a data: URL (uploaded file ids are not "
                                  "supported)", param=f"{where}.file")
            parts.append(media_url_part(data, f"{where}.file.file_data", default_mime="application/pdf"))
        else:
            raise ClientError(f"{where}.type must be one of text, image_url, input_audio, file",
                              param=f"{where}.type")
    return parts


# ---------------------------------------------------------------------------------------------------- tools


def _tools(body: dict[str, Any], family: str, ctx: TranslateContext) -> ToolSet:
    tools = ToolSet(family, clean=ctx.clean_tool_schema)
    if body.get("web_search_options") is not None:
        tools.search = True
    value = body.get("tools")
    if value is None:
        return tools
    if not isinstance(value, list):
        raise ClientError("tools must be an array", param="tools")
    for i, tool in enumerate(value):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise ClientError(f"{param} must be an object", param=param)
        kind = tool.get("type", "function")
        if kind in ("web_search", "web_search_preview"):
            tools.search = True
            continue
        if kind != "function" or not isinstance(tool.get("function"), dict):
            raise ClientError(f"{param} must be a function tool ({{\"type\": \"function\", \"function\": ...}})",
                              param=param)
        function = tool["function"]
        tools.add_function(function.get("name"), function.get("description"), function.get("parameters"),
                           f"{param}.function")
    return tools


def _tool_choice(value: object, tools: ToolSet) -> ToolChoice | None:
    if value is None:
        return None
    simple = {"none": "NONE", "auto": "AUTO", "required": "ANY", "any": "ANY"}
    if isinstance(value, str):
        if value not in simple:
            raise ClientError("tool_choice must be none, auto, required or a function", param="tool_choice")
        return ToolChoice(simple[value])  # type: ignore[arg-type]
    if not isinstance(value, dict):
        raise ClientError("tool_choice must be a string or an object", param="tool_choice")
    if value.get("type") == "function" and isinstance(value.get("function"), dict):
        name = value["function"].get("name")
        choice = ToolChoice("ANY", (name,)) if isinstance(name, str) and name else None
    elif value.get("type") == "allowed_tools" and isinstance(value.get("allowed_tools"), dict):
        allowed = value["allowed_tools"]
        names = [t["function"].get("name") for t in allowed.get("tools") or []
                 if isinstance(t, dict) and isinstance(t.get("function"), dict)]
        choice = ToolChoice("ANY" if allowed.get("mode") == "required" else "AUTO",
                            tuple(n for n in names if isinstance(n, str)))
        if choice.mode == "AUTO":
            choice = ToolChoice("AUTO")  # Gemini restricts names only in ANY mode
    else:
        choice = None
    if choice is None:
        raise ClientError("tool_choice object must name a function", param="tool_choice")
    tools.check_choice(choice, "tool_choice")
    return choice


# ---------------------------------------------------------------------------------------------------- config


def _generation(body: dict[str, Any], route: ModelRoute, ctx: TranslateContext,
                contents: list[dict[str, Any]]) -> dict[str, Any]:
    caps = ctx.caps(route)
    effort = body.get("reasoning_effort")
    if effort is not None and not isinstance(effort, str):
        raise ClientError("reasoning_effort must be a string", param="reasoning_effort")
    thinking = ThinkingRequest.from_effort(effort) if effort else ThinkingRequest()
    if route.family == "claude" and not claude_thinking_allowed(contents):
        thinking = ThinkingRequest("off")  # the tool loop's thinking block is gone: thinking would be a 400
    max_tokens = number_param(body, "max_completion_tokens", low=1, high=10_000_000, integer=True)
    if max_tokens is None:
        max_tokens = number_param(body, "max_tokens", low=1, high=10_000_000, integer=True)
    config = generation_config(
        caps,
        thinking=thinking,
        max_tokens=max_tokens,  # type: ignore[arg-type]
        temperature=number_param(body, "temperature", low=0, high=2),
        top_p=number_param(body, "top_p", low=0, high=1),
        top_k=number_param(body, "top_k", low=1, high=1000, integer=True),  # type: ignore[arg-type]
        stop=stop_sequences(body.get("stop"), "stop"),
        candidate_count=number_param(body, "n", low=1, high=8, integer=True),  # type: ignore[arg-type]
    )
    config.update(_response_format(body.get("response_format"), ctx))
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise ClientError("modalities must be an array of strings", param="modalities")
        if "image" in modalities:
            config["responseModalities"] = [m.upper() for m in modalities if m in ("text", "image")]
    return config


def _response_format(value: object, ctx: TranslateContext) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientError("response_format must be an object", param="response_format")
    kind = value.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise ClientError("response_format.json_schema must be an object", param="response_format.json_schema")
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if isinstance(spec.get("schema"), dict):
            out["responseSchema"] = ctx.clean_response_schema(spec["schema"])
        return out
    raise ClientError("response_format.type must be text, json_object or json_schema", param="response_format.type")
