"""OpenAI Responses API request (what Codex speaks) → the upstream ``GenerateContentRequest``.

``instructions`` and ``system``/``developer`` messages become the system instruction; ``input`` items become
contents: messages (text, images, files), ``function_call`` / ``function_call_output`` pairs (by ``call_id``),
``custom_tool_call`` pairs (free-form tools, declared upstream as a function with one string ``input``), and
``reasoning`` items, whose ``encrypted_content`` carries back the thought signature we handed out (their summary
text is the thought text, so Claude's thinking rules can be met).

Tools: ``function`` tools, ``namespace`` groups (their functions are declared as ``<namespace>__<name>`` and the
calls are split back on the way out) and ``custom`` tools; ``web_search`` asks for Google-search grounding. The
gateway stores no responses, so ``previous_response_id`` and ``item_reference`` are refused with a clear 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope, system_instruction
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, generation_config
from antigravityd.translate.history_repair import close_tool_loops, sentinel_history, without_thoughts
from antigravityd.translate.hygiene import normalize_contents
from antigravityd.translate.models import ModelCaps, ModelRoute
from antigravityd.translate.responses_content import call_output, message_parts
from antigravityd.translate.signatures import apply_history_signatures, claude_thinking_allowed
from antigravityd.translate.tool_args import coerce_tool_args
from antigravityd.translate.tools import SEARCH_TOOL_NAMES, ToolChoice, ToolSet, tool_fields

__all__ = ["NAMESPACE_SEPARATOR", "ResponsesRequest", "ToolName", "translate_responses"]

NAMESPACE_SEPARATOR = "__"
CUSTOM_INPUT_SCHEMA = {"type": "object", "properties": {"input": {"type": "string", "description":
                                                                  "The raw input for the tool"}},
                       "required": ["input"]}
_SKIPPED_TOOLS = frozenset({"file_search", "computer_use_preview", "computer_use", "mcp", "code_interpreter",
                            "image_generation", "local_shell", "shell", "apply_patch"})
_SKIPPED_ITEMS = frozenset({"web_search_call", "file_search_call", "computer_call", "computer_call_output",
                            "image_generation_call", "code_interpreter_call", "local_shell_call",
                            "local_shell_call_output", "mcp_call", "mcp_list_tools", "mcp_approval_request",
                            "mcp_approval_response", "compaction", "shell_call", "shell_call_output"})
_ROLES = frozenset({"user", "assistant", "system", "developer"})


@dataclass(frozen=True, slots=True)
class ToolName:
    """How a declared upstream function name maps back to what the client declared."""

    name: str
    namespace: str | None = None
    custom: bool = False


@dataclass
class ResponsesRequest:
    route: ModelRoute
    caps: ModelCaps
    ctx: TranslateContext
    contents: list[dict[str, Any]]
    system_texts: list[str]
    tool_request: dict[str, Any]
    thinking: ThinkingRequest
    max_tokens: int | None
    sampling: dict[str, Any]
    tool_names: dict[str, ToolName] = field(default_factory=dict)
    response_format: dict[str, Any] = field(default_factory=dict)
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the response object repeats
    show_reasoning: bool = False
    encrypted_reasoning: bool = False
    rewritten: bool = False

    def __post_init__(self) -> None:
        self._settle()

    @property
    def family(self) -> str:
        return self.route.family

    def _settle(self) -> None:
        self.generation = generation_config(self.caps, thinking=self.thinking, max_tokens=self.max_tokens,
                                            **self.sampling)
        self.generation.update(self.response_format)
        config = self.generation.get("thinkingConfig")
        self.thinking_on = bool(config) and config.get("thinkingBudget") != 0 and (
            self.family != "claude" or bool(config.get("thinkingBudget")))
        if self.family == "claude" and not self.thinking_on:
            self.contents = normalize_contents(without_thoughts(self.contents), "claude")
            if self.caps.thinking_by_default:
                self.generation["thinkingConfig"] = {"includeThoughts": False, "thinkingBudget": 0}

    def rewrite_signatures(self) -> bool:
        if self.rewritten:
            return False
        self.rewritten = True
        if self.family == "claude":
            self.thinking = ThinkingRequest("off", include_thoughts=False)
            self._settle()
            return True
        self.contents = normalize_contents(sentinel_history(self.contents), self.family)
        return True

    @property
    def upstream_headers(self) -> dict[str, str]:
        if self.family == "claude" and self.thinking_on and self.tool_request.get("tools"):
            return {"anthropic-beta": "interleaved-thinking-2025-05-14"}
        return {}

    def request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"contents": self.contents, **self.tool_request}
        system = system_instruction(self.system_texts)
        if system is not None:
            out["systemInstruction"] = system
        if self.generation:
            out["generationConfig"] = self.generation
        return out

    def envelope(self, project: str | None, request_id: str) -> dict[str, Any]:
        return build_envelope(self.request(), self.route, replace(self.ctx, project=project, request_id=request_id))


# ---------------------------------------------------------------------------------------------------- entry


def translate_responses(body: Mapping[str, Any], route: ModelRoute, ctx: TranslateContext) -> ResponsesRequest:
    if body.get("previous_response_id") is not None:
        raise ClientError("previous_response_id is not supported: this gateway stores no responses; send the whole "
                          "conversation in input (Codex does with store=false)", param="previous_response_id")
    if body.get("background") is True:
        raise ClientError("background responses are not supported", param="background")
    if body.get("conversation") is not None:
        raise ClientError("conversation is not supported: send the whole conversation in input",
                          param="conversation")
    family = route.family
    system_texts: list[str] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ClientError("instructions must be a string", param="instructions")
        if instructions.strip():
            system_texts.append(instructions)
    toolset, names = _tools(body.get("tools"), ctx, family)
    choice = _tool_choice(body.get("tool_choice"), names)
    toolset.check_choice(choice, "tool_choice")
    contents = _contents(body.get("input"), system_texts, toolset, names, ctx)
    if ctx.tool_loop_recovery:
        contents = close_tool_loops(contents)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=ctx.signatures)
    contents = normalize_contents(contents, family)
    if not contents:
        raise ClientError("input contains no content to send", param="input")

    reasoning = body.get("reasoning")
    thinking, show = _thinking(reasoning)
    forced = choice is not None and choice.mode == "ANY"
    if family == "claude" and (forced or not claude_thinking_allowed(contents)):
        thinking = ThinkingRequest("off", include_thoughts=False)
    include = body.get("include")
    if include is not None and not (isinstance(include, list) and all(isinstance(i, str) for i in include)):
        raise ClientError("include must be an array of strings", param="include")
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise ClientError("max_output_tokens must be a positive integer", param="max_output_tokens")
    echo = {key: body.get(key) for key in ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls",
                                           "reasoning", "temperature", "text", "tool_choice", "tools", "top_p",
                                           "truncation", "user", "store")}
    return ResponsesRequest(
        route=route, caps=ctx.caps(route), ctx=ctx, contents=contents, system_texts=system_texts,
        tool_request=tool_fields(toolset, choice), thinking=thinking, max_tokens=max_tokens,
        sampling=_sampling(body), tool_names=names, response_format=_text_format(body.get("text"), ctx),
        echo=echo, show_reasoning=show, encrypted_reasoning="reasoning.encrypted_content" in (include or ()),
    )


# ---------------------------------------------------------------------------------------------------- tools


def _tools(tools: object, ctx: TranslateContext, family: str) -> tuple[ToolSet, dict[str, ToolName]]:
    toolset = ToolSet(family, clean=ctx.clean_tool_schema)
    names: dict[str, ToolName] = {}
    if tools is None:
        return toolset, names
    if not isinstance(tools, list):
        raise ClientError("tools must be an array", param="tools")
    for i, tool in enumerate(tools):
        _tool(tool, f"tools[{i}]", None, toolset, names)
    return toolset, names


def _tool(tool: object, param: str, namespace: str | None, toolset: ToolSet, names: dict[str, ToolName]) -> None:
    if not isinstance(tool, dict):
        raise ClientError(f"{param} must be an object", param=param)
    kind = tool.get("type")
    name = tool.get("name")
    if kind == "function":
        declared = _declared(name, namespace, param)
        toolset.add_function(declared, tool.get("description"), tool.get("parameters") or {"type": "object"}, param)
        names[declared] = ToolName(str(name), namespace)
    elif kind == "custom":
        declared = _declared(name, namespace, param)
        description = tool.get("description") if isinstance(tool.get("description"), str) else ""
        fmt = tool.get("format")
        if isinstance(fmt, dict) and isinstance(fmt.get("definition"), str):
            description = f"{description}\n\nInput format ({fmt.get('syntax', 'grammar')}):\n{fmt['definition']}"
        toolset.add_function(declared, description.strip(), CUSTOM_INPUT_SCHEMA, param)
        names[declared] = ToolName(str(name), namespace, custom=True)
    elif kind == "namespace" and namespace is None:
        if not isinstance(name, str) or not name:
            raise ClientError(f"{param}.name must be a non-empty string", param=f"{param}.name")
        inner = tool.get("tools")
        if not isinstance(inner, list):
            raise ClientError(f"{param}.tools must be an array", param=f"{param}.tools")
        for j, sub in enumerate(inner):
            _tool(sub, f"{param}.tools[{j}]", name, toolset, names)
    elif isinstance(kind, str) and (kind.startswith("web_search") or kind in SEARCH_TOOL_NAMES):
        toolset.search = True
    elif isinstance(kind, str) and (kind in _SKIPPED_TOOLS or kind.startswith("computer")):
        return  # hosted tools the upstream cannot run
    else:
        raise ClientError(f"{param}.type {kind!r} is not supported", param=f"{param}.type")


def _declared(name: object, namespace: str | None, param: str) -> str:
    if not isinstance(name, str) or not name:
        raise ClientError(f"{param}.name must be a non-empty string", param=f"{param}.name")
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def _tool_choice(choice: object, names: Mapping[str, ToolName]) -> ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return ToolChoice({"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice])  # type: ignore[index,arg-type]
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            name = choice.get("name")
            namespace = choice.get("namespace")
            declared = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if isinstance(namespace, str) else name
            if not isinstance(declared, str) or declared not in names:
                raise ClientError("tool_choice.name must name a declared tool", param="tool_choice.name")
            return ToolChoice("ANY", (declared,))
        if kind == "allowed_tools":
            mode = "ANY" if choice.get("mode") == "required" else "AUTO"
            allowed = tuple(t["name"] for t in choice.get("tools") or () if isinstance(t, dict)
                            and t.get("name") in names)
            return ToolChoice(mode, allowed if mode == "ANY" else ())  # type: ignore[arg-type]
        if isinstance(kind, str):
            return None  # hosted-tool choices (web_search, file_search …): let the model decide
    raise ClientError("tool_choice must be auto, none, required or a tool object", param="tool_choice")


# ---------------------------------------------------------------------------------------------------- input


def _contents(items: object, system_texts: list[str], toolset: ToolSet, names: Mapping[str, ToolName],
              ctx: TranslateContext) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [{"role": "user", "parts": [{"text": items}]}] if items.strip() else []
    if not isinstance(items, list) or not items:
        raise ClientError("input must be a string or a non-empty array of items", param="input")
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, item in enumerate(items):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise ClientError(f"{param} must be an object", param=param)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise ClientError(f"{param}.role must be user, assistant, system or developer", param=f"{param}.role")
            parts = message_parts(item.get("content"), f"{param}.content")
            if role in ("system", "developer"):
                system_texts.extend(p["text"] for p in parts if "text" in p)
                continue
            _append(contents, "user" if role == "user" else "model", parts)
        elif kind in ("function_call", "custom_tool_call"):
            call_id = _string(item.get("call_id"), f"{param}.call_id")
            name = _string(item.get("name"), f"{param}.name")
            namespace = item.get("namespace")
            declared = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if isinstance(namespace, str) and namespace else name
            if kind == "custom_tool_call":
                args: dict[str, Any] = {"input": item.get("input") if isinstance(item.get("input"), str) else ""}
            else:
                args = _arguments(item.get("arguments"), f"{param}.arguments")
                if declared in toolset.schemas:
                    args = coerce_tool_args(args, toolset.schemas[declared])
            call_names[call_id] = declared
            _append(contents, "model", [{"functionCall": {"name": declared, "args": args, "id": call_id}}])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = _string(item.get("call_id"), f"{param}.call_id")
            text, media = call_output(item.get("output"), f"{param}.output")
            response = {"name": call_names.get(call_id, call_id), "id": call_id, "response": {"result": text}}
            _append(contents, "user", [{"functionResponse": response}, *media])
        elif kind == "reasoning":
            part = _reasoning_part(item, ctx)
            if part is not None:
                _append(contents, "model", [part])
        elif kind == "item_reference":
            raise ClientError("item_reference is not supported: this gateway stores no items; send them in full",
                              param=f"{param}.type")
        elif kind in _SKIPPED_ITEMS:
            continue
        else:
            raise ClientError(f"{param}.type {kind!r} is not supported", param=f"{param}.type")
    return contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1] = {"role": role, "parts": contents[-1]["parts"] + parts}
    else:
        contents.append({"role": role, "parts": parts})


def _string(value: object, param: str) -> str:
    if not isinstance(value, str) or not value:
        raise ClientError(f"{param} must be a non-empty string", param=param)
    return value


def _arguments(raw: object, param: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise ClientError(f"{param} must be a JSON string", param=param)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"input": raw}  # an interrupted call's partial JSON: keep it readable rather than fail the turn
    return value if isinstance(value, dict) else {"value": value}


def _reasoning_part(item: Mapping[str, Any], ctx: TranslateContext) -> dict[str, Any] | None:
    """A replayed reasoning item: its summary is the thought text, ``encrypted_content`` the signature."""
    summary = item.get("summary")
    text = "".join(s.get("text", "") for s in summary if isinstance(s, dict) and isinstance(s.get("text"), str)) \
        if isinstance(summary, list) else ""
    signature = item.get("encrypted_content")
    if not text and not signature:
        return None
    part: dict[str, Any] = {"text": text, "thought": True}
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = signature
    return part


# ---------------------------------------------------------------------------------------------------- settings


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _thinking(reasoning: object) -> tuple[ThinkingRequest, bool]:
    """(thinking request, whether reasoning summaries are shown)."""
    if reasoning is None:
        return ThinkingRequest(), False
    if not isinstance(reasoning, dict):
        raise ClientError("reasoning must be an object", param="reasoning")
    summary = reasoning.get("summary", reasoning.get("generate_summary"))
    show = isinstance(summary, str) and summary != "none"
    effort = reasoning.get("effort")
    if effort is None:
        return ThinkingRequest(include_thoughts=show), show
    if not isinstance(effort, str):
        raise ClientError("reasoning.effort must be a string", param="reasoning.effort")
    return ThinkingRequest.from_effort(effort, include_thoughts=show), show


def _sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ClientError(f"{key} must be a number from {low:g} to {high:g}", param=key)
        out[key] = value
    return out


def _text_format(text: object, ctx: TranslateContext) -> dict[str, Any]:
    if not isinstance(text, dict):
        return {}
    fmt = text.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return {}
    if fmt.get("type") == "json_object":
        return {"responseMimeType": "application/json"}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise ClientError("text.format.schema must be an object", param="text.format.schema")
        return {"responseMimeType": "application/json", "responseSchema": ctx.clean_response_schema(schema)}
    raise ClientError("text.format.type must be text, json_object or json_schema", param="text.format.type")
