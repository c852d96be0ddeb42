"""Anthropic Messages request → upstream ``request`` (upstream-protocol §8.3).

* ``system`` (a string or text blocks; Claude Code's ``x-anthropic-billing-header`` line is dropped, it only
  defeats prompt caching) and ``role: "system"`` entries inside ``messages`` become the system instruction.
* Blocks: ``text``; ``image``/``document`` (base64 or URL, never a local path); ``thinking`` (with its
  ``signature``) → a thought part, judged by the shared signature rules; ``redacted_thinking`` is dropped (the
  upstream cannot take it back); ``tool_use`` → ``functionCall`` with its id; ``tool_result`` → ``functionResponse``
  named after the call it answers (text joined, an empty result gets a placeholder, errors go under ``error``,
  images in results follow as their own parts); server-tool blocks are dropped.
* ``cache_control`` is never copied (we build every part from known fields only).
* Every ``tool_result`` must answer a ``tool_use`` of the assistant turn before it. Calls left unanswered (a
  cancelled tool run) are closed with an "interrupted" result when ``tool_loop_recovery`` is on, else refused.
* ``thinking`` (``enabled`` + ``budget_tokens`` / ``adaptive`` / ``disabled``) and ``output_config.effort`` map to the
  shared thinking rules; when the history has lost the signed thinking block a Claude tool loop needs, thinking is
  turned off for this request instead of failing.
"""

from __future__ import annotations

from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import system_instruction
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, generation_config, number_param, stop_sequences
from antigravityd.translate.hygiene import close_tool_loops, normalize_contents
from antigravityd.translate.media import inline_part, media_url_part
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.signatures import apply_history_signatures, claude_thinking_allowed
from antigravityd.translate.tool_args import coerce_tool_args
from antigravityd.translate.tools import ToolChoice, ToolSet, tool_fields

__all__ = ["messages_request_to_upstream"]

EMPTY_RESULT = "Command executed successfully."
EMPTY_ERROR = "Tool execution failed with no output."
_BILLING_HEADER = "x-anthropic-billing-header:"
_SKIPPED_BLOCKS = frozenset({"redacted_thinking", "server_tool_use", "web_search_tool_result",
                             "web_fetch_tool_result", "code_execution_tool_result", "mcp_tool_use", "mcp_tool_result",
                             "container_upload"})


def messages_request_to_upstream(body: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    """The inner upstream ``request`` for a Messages body. Raises ClientError for malformed input."""
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    family = route.family
    tools = _tools(body.get("tools"), family, ctx)
    choice = _tool_choice(body.get("tool_choice"), tools)
    converter = _Messages(tools)
    converter.system.extend(_system_texts(body.get("system"), "system"))
    contents = converter.convert(body.get("messages"))

    contents = normalize_contents(contents, family)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=ctx.signatures)
    contents = normalize_contents(contents, family)
    if ctx.tool_loop_recovery:
        contents = close_tool_loops(contents)
    elif converter.unanswered:
        raise ClientError(f"tool_use ids were found without tool_result blocks immediately after: "
                          f"{', '.join(converter.unanswered)}", param="messages")
    if not contents:
        raise ClientError("messages must contain at least one non-empty message", param="messages")

    request: dict[str, Any] = {"contents": contents}
    if (system := system_instruction(converter.system)) is not None:
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
        self.calls: dict[str, str] = {}  # tool_use id → name, of the latest assistant turn
        self.unanswered: list[str] = []

    def convert(self, messages: object) -> list[dict[str, Any]]:
        if not isinstance(messages, list) or not messages:
            raise ClientError("messages must be a non-empty array", param="messages")
        for i, message in enumerate(messages):
            param = f"messages[{i}]"
            if not isinstance(message, dict):
                raise ClientError(f"{param} must be an object", param=param)
            role = message.get("role")
            content = message.get("content")
            if role == "system":  # Claude Code's mid-conversation system messages
                self.system.extend(_system_texts(content, f"{param}.content"))
            elif role == "user":
                self.contents.append({"role": "user", "parts": self._user(content, f"{param}.content")})
            elif role == "assistant":
                self._close_turn()
                self.contents.append({"role": "model", "parts": self._assistant(content, f"{param}.content")})
            else:
                raise ClientError(f"{param}.role must be 'user' or 'assistant'", param=f"{param}.role")
        self._close_turn()
        return self.contents

    def _close_turn(self) -> None:
        self.unanswered.extend(self.calls)
        self.calls = {}

    def _user(self, content: object, param: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        deferred: list[dict[str, Any]] = []  # images of tool results: after all functionResponses
        for j, block in enumerate(_blocks(content, param)):
            where = f"{param}[{j}]"
            kind = block.get("type")
            if kind == "tool_result":
                response, images = self._tool_result(block, where)
                parts.append(response)
                deferred.extend(images)
            elif isinstance(kind, str) and kind in _SKIPPED_BLOCKS:
                continue
            else:
                parts.extend(_content_block(block, where))
        if self.calls and any("functionResponse" in p for p in parts):
            self._close_turn()  # results for part of the calls: the rest stay unanswered
        return parts + deferred

    def _tool_result(self, block: dict[str, Any], param: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise ClientError(f"{param}.tool_use_id must be a non-empty string", param=f"{param}.tool_use_id")
        name = self.calls.pop(call_id, None)
        if name is None:
            raise ClientError(f"{param}.tool_use_id {call_id!r} does not answer a tool_use block of the preceding "
                              "assistant message", param=f"{param}.tool_use_id")
        texts: list[str] = []
        images: list[dict[str, Any]] = []
        content = block.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif content is not None:
            for k, item in enumerate(_blocks(content, f"{param}.content")):
                if item.get("type") == "text" and isinstance(item.get("text"), str):
                    texts.append(item["text"])
                elif item.get("type") in ("image", "document"):
                    images.extend(_content_block(item, f"{param}.content[{k}]"))
                else:
                    raise ClientError(f"{param}.content[{k}] must be a text, image or document block",
                                      param=f"{param}.content[{k}]")
        text = "\n".join(texts)
        if images:
            text = (text + "\n" if text else "") + f"[{len(images)} image(s) attached below]"
        is_error = block.get("is_error") is True
        text = text or (EMPTY_ERROR if is_error else EMPTY_RESULT)
        response = {"error": text} if is_error else {"result": text}
        return {"functionResponse": {"name": name, "id": call_id, "response": response}}, images

    def _assistant(self, content: object, param: str) -> list[dict[str, Any]]:
        thoughts: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for j, block in enumerate(_blocks(content, param)):
            where = f"{param}[{j}]"
            kind = block.get("type")
            if kind == "text":
                text = _text(block, where)
                if text.strip() and text != "(no content)":
                    parts.append({"text": text})
            elif kind == "thinking":
                thinking = block.get("thinking")
                if not isinstance(thinking, str):
                    raise ClientError(f"{where}.thinking must be a string", param=f"{where}.thinking")
                signature = block.get("signature")
                thoughts.append({"text": thinking, "thought": True}
                                | ({"thoughtSignature": signature} if isinstance(signature, str) else {}))
            elif kind == "tool_use":
                parts.append(self._tool_use(block, where))
            elif isinstance(kind, str) and kind in _SKIPPED_BLOCKS:
                continue
            else:
                raise ClientError(f"{where}.type {kind!r} is not valid in an assistant message", param=f"{where}.type")
        return thoughts + parts  # thinking first, as Anthropic requires

    def _tool_use(self, block: dict[str, Any], param: str) -> dict[str, Any]:
        call_id = block.get("id")
        name = block.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise ClientError(f"{param}.id must be a non-empty string", param=f"{param}.id")
        if not isinstance(name, str) or not name:
            raise ClientError(f"{param}.name must be a non-empty string", param=f"{param}.name")
        args = block.get("input", {})
        if not isinstance(args, dict):
            raise ClientError(f"{param}.input must be an object", param=f"{param}.input")
        if name in self.tools.schemas:
            args = coerce_tool_args(args, self.tools.schemas[name])
        self.calls[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args, "id": call_id}}
        signature = block.get("signature") or block.get("thoughtSignature")  # a field some proxies add
        if isinstance(signature, str):
            part["thoughtSignature"] = signature
        return part


def _blocks(content: object, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content blocks", param=param)
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise ClientError(f"{param}[{j}] must be an object", param=f"{param}[{j}]")
    return content


def _text(block: dict[str, Any], param: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise ClientError(f"{param}.text must be a string", param=f"{param}.text")
    return text


def _content_block(block: dict[str, Any], param: str) -> list[dict[str, Any]]:
    """A user content block (text, image, document) → parts."""
    kind = block.get("type")
    if kind == "text":
        text = _text(block, param)
        return [{"text": text}] if text.strip() else []
    if kind in ("image", "document"):
        source = block.get("source")
        if not isinstance(source, dict):
            raise ClientError(f"{param}.source must be an object", param=f"{param}.source")
        source_type = source.get("type")
        if source_type == "base64":
            return [inline_part(source.get("media_type"), source.get("data"), f"{param}.source.data")]
        if source_type == "url":
            default = "image/jpeg" if kind == "image" else "application/pdf"
            return [media_url_part(source.get("url"), f"{param}.source.url", default_mime=default)]
        if source_type == "text" and kind == "document" and isinstance(source.get("data"), str):
            return [{"text": source["data"]}]
        raise ClientError(f"{param}.source.type must be base64 or url (file ids are not supported)",
                          param=f"{param}.source.type")
    raise ClientError(f"{param}.type must be one of text, image, document, tool_result", param=f"{param}.type")


def _system_texts(value: object, param: str) -> list[str]:
    if value is None:
        return []
    texts = [b["text"] for b in _blocks(value, param) if b.get("type") == "text" and isinstance(b.get("text"), str)]
    return [t for t in texts if not t.startswith(_BILLING_HEADER)]


# ---------------------------------------------------------------------------------------------------- tools


def _tools(value: object, family: str, ctx: TranslateContext) -> ToolSet:
    tools = ToolSet(family, clean=ctx.clean_tool_schema)
    if value is None:
        return tools
    if not isinstance(value, list):
        raise ClientError("tools must be an array", param="tools")
    for i, tool in enumerate(value):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise ClientError(f"{param} must be an object", param=param)
        kind = tool.get("type", "custom")
        if isinstance(kind, str) and kind.startswith("web_search"):
            tools.search = True
        elif kind == "custom":
            tools.add_function(tool.get("name"), tool.get("description"), tool.get("input_schema"), param)
        else:
            raise ClientError(f"{param}.type {kind!r}: only custom tools and web search are supported",
                              param=f"{param}.type")
    return tools


def _tool_choice(value: object, tools: ToolSet) -> ToolChoice | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ClientError("tool_choice must be an object", param="tool_choice")
    kind = value.get("type")
    if kind == "auto":
        return ToolChoice("AUTO")
    if kind == "any":
        return ToolChoice("ANY")
    if kind == "none":
        return ToolChoice("NONE")
    if kind == "tool":
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError("tool_choice.name must name a tool", param="tool_choice.name")
        choice = ToolChoice("ANY", (name,))
        tools.check_choice(choice, "tool_choice.name")
        return choice
    raise ClientError("tool_choice.type must be auto, any, tool or none", param="tool_choice.type")


# ---------------------------------------------------------------------------------------------------- config


def _thinking(body: dict[str, Any]) -> ThinkingRequest:
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    effort = effort if isinstance(effort, str) and effort else None
    thinking = body.get("thinking")
    if thinking is None:
        return ThinkingRequest.from_effort(effort) if effort else ThinkingRequest()
    if not isinstance(thinking, dict):
        raise ClientError("thinking must be an object", param="thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        return ThinkingRequest("off", include_thoughts=False)
    if kind == "adaptive":
        return ThinkingRequest.from_effort(effort or "high")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ClientError("thinking.budget_tokens must be a positive integer", param="thinking.budget_tokens")
        return ThinkingRequest.from_budget(budget)
    raise ClientError("thinking.type must be enabled, adaptive or disabled", param="thinking.type")


def _generation(body: dict[str, Any], route: ModelRoute, ctx: TranslateContext,
                contents: list[dict[str, Any]]) -> dict[str, Any]:
    thinking = _thinking(body)
    if route.family == "claude" and not claude_thinking_allowed(contents):
        thinking = ThinkingRequest("off")
    return generation_config(
        ctx.caps(route),
        thinking=thinking,
        max_tokens=number_param(body, "max_tokens", low=1, high=10_000_000, integer=True),  # type: ignore[arg-type]
        temperature=number_param(body, "temperature", low=0, high=1),
        top_p=number_param(body, "top_p", low=0, high=1),
        top_k=number_param(body, "top_k", low=1, high=1000, integer=True),  # type: ignore[arg-type]
        stop=stop_sequences(body.get("stop_sequences"), "stop_sequences"),
    )
