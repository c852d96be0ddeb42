"""Anthropic Messages request → the upstream ``GenerateContentRequest`` (upstream-protocol §8.3, §9, §11).

:func:`translate_messages` validates the client body, converts it and returns an :class:`AnthropicRequest`: the
inner upstream request plus what the response side needs (the client's model name, stop sequences, whether
thinking is on, the target family). It reads the signature cache but never writes it.

Order of work, each step for a reason:

1. ``role: system`` entries inside ``messages`` (Claude Code's mid-conversation system messages) are lifted into
   the system instruction — upstream has no system role in ``contents``.
2. Consecutive messages of the same role are merged: upstream needs alternation, and every tool result answering
   one assistant turn must sit in the one user turn after it.
3. Blocks become parts (``anthropic_content``); tool results come first in a user turn, thinking first in an
   assistant turn.
4. Broken tool loops are closed when ``tool_loop_recovery`` is on: unanswered ``tool_use`` ids get an
   "interrupted" result, results answering nothing become text (else upstream answers 400).
5. Signatures are made valid for the target family (``signatures.apply_history_signatures``).
6. Thinking: the client's choice (``enabled`` + budget, ``adaptive``, ``disabled``, ``output_config.effort``) or
   the model default — turned off for Claude targets when the history cannot satisfy Anthropic's
   thinking-block rules or when ``tool_choice`` forces a tool (Anthropic refuses both combinations).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from antigravityd.translate.anthropic_content import assistant_parts, user_parts
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.count_tokens import count_tokens_body
from antigravityd.translate.envelope import build_envelope, system_instruction
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import DEFAULT_THINKING_BUDGET, ThinkingRequest, generation_config
from antigravityd.translate.history_repair import close_tool_loops, has_thoughts, sentinel_history, without_thoughts
from antigravityd.translate.hygiene import normalize_contents
from antigravityd.translate.models import ModelCaps, ModelRoute
from antigravityd.translate.signatures import apply_history_signatures, claude_thinking_allowed
from antigravityd.translate.tools import ToolChoice, ToolSet, tool_fields

__all__ = ["AnthropicRequest", "translate_messages"]

INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"
_EFFORTS = ("low", "medium", "high", "max")


@dataclass
class AnthropicRequest:
    """A translated Messages request. Changed after construction only by :meth:`rewrite_signatures` (the retry
    after a signature 400)."""

    route: ModelRoute
    caps: ModelCaps
    ctx: TranslateContext
    contents: list[dict[str, Any]]
    system_texts: list[str]
    tools: list[dict[str, Any]]
    tool_config: dict[str, Any] | None
    thinking: ThinkingRequest
    max_tokens: int | None
    sampling: dict[str, Any]
    stop_sequences: list[str] = field(default_factory=list)
    rewritten: bool = False

    def __post_init__(self) -> None:
        self._settle()

    @property
    def family(self) -> str:
        return self.route.family

    def _settle(self) -> None:
        self.generation = generation_config(self.caps, thinking=self.thinking, max_tokens=self.max_tokens,
                                            stop=self.stop_sequences or None, **self.sampling)
        config = self.generation.get("thinkingConfig")
        self.thinking_on = bool(config) and config.get("thinkingBudget") != 0 and (
            self.family != "claude" or bool(config.get("thinkingBudget")))
        if self.family != "claude":
            return
        if not self.thinking_on:
            # Claude without thinking: no thinking blocks in history, and a ``-thinking`` id must be told "off"
            # explicitly (it thinks by default).
            self.contents = normalize_contents(without_thoughts(self.contents), "claude")
            if self.caps.thinking_by_default:
                self.generation["thinkingConfig"] = {"includeThoughts": False, "thinkingBudget": 0}
            return
        # Anthropic: with thinking, temperature must be 1, top_k unset, top_p within [0.95, 1].
        self.generation.pop("topK", None)
        if self.generation.get("temperature", 1) != 1:
            self.generation.pop("temperature", None)
        if self.generation.get("topP", 1) < 0.95:
            self.generation.pop("topP", None)

    def rewrite_signatures(self) -> bool:
        """After upstream rejected a signature: Claude targets lose thinking (history and config), Gemini targets
        get the documented sentinel on every first call and no thought parts. False when nothing changes."""
        if self.rewritten:
            return False
        self.rewritten = True
        if self.family == "claude":
            if not self.thinking_on and not has_thoughts(self.contents):
                return False
            self.thinking = ThinkingRequest("off", include_thoughts=False)
            self._settle()
            return True
        self.contents = normalize_contents(sentinel_history(self.contents), self.family)
        return True

    @property
    def upstream_headers(self) -> dict[str, str]:
        """Claude with thinking and tools: ask for interleaved thinking (§1.4)."""
        if self.family == "claude" and self.thinking_on and self.tools:
            return {"anthropic-beta": INTERLEAVED_THINKING}
        return {}

    def request(self) -> dict[str, Any]:
        """The inner ``request`` object (identity prompt and session id are added by the envelope)."""
        out: dict[str, Any] = {"contents": self.contents}
        system = system_instruction(self.system_texts)
        if system is not None:
            out["systemInstruction"] = system
        if self.tools:
            out["tools"] = self.tools
            if self.tool_config is not None:
                out["toolConfig"] = self.tool_config
        if self.generation:
            out["generationConfig"] = self.generation
        return out

    def envelope(self, project: str | None, request_id: str) -> dict[str, Any]:
        ctx = replace(self.ctx, project=project, request_id=request_id)
        return build_envelope(self.request(), self.route, ctx)

    def count_request(self) -> dict[str, Any]:
        """The ``countTokens`` request: only what is counted (§1.3 — no ids, session or generation config)."""
        return count_tokens_body(self.request())["request"]


# ---------------------------------------------------------------------------------------------------- entry


def translate_messages(body: Mapping[str, Any], route: ModelRoute, ctx: TranslateContext) -> AnthropicRequest:
    """Validate and translate a Messages body. Raises :class:`ClientError` for what the client got wrong."""
    family = route.family
    cache = ctx.signatures
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ClientError("messages must be a non-empty array", param="messages")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise ClientError("max_tokens must be a positive integer", param="max_tokens")

    system_texts = _system_texts(body.get("system"))
    toolset = _tools(body.get("tools"), ctx, family)
    choice = _tool_choice(body.get("tool_choice"))
    toolset.check_choice(choice, "tool_choice.name")
    forced = choice is not None and choice.mode == "ANY" and bool(toolset.declarations)
    tool_request = tool_fields(toolset, choice)
    schemas = toolset.schemas
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    for index, role, blocks in _turns(messages, system_texts):
        path = f"messages[{index}].content"
        if role == "user":
            parts = user_parts(blocks, path, names)
        else:
            parts = assistant_parts(blocks, path, target_family=family, cache=cache, schemas=schemas, names=names)
        if parts:
            _append(contents, "user" if role == "user" else "model", parts)
    if ctx.tool_loop_recovery:
        contents = close_tool_loops(contents)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=cache)
    contents = normalize_contents(contents, family)
    if not contents:
        raise ClientError("messages contain no content to send (every block was empty)", param="messages")

    thinking = _thinking_request(body.get("thinking"), body.get("output_config"))
    if family == "claude" and (forced or not claude_thinking_allowed(contents)):
        thinking = ThinkingRequest("off", include_thoughts=False)
    return AnthropicRequest(
        route=route, caps=ctx.caps(route), ctx=ctx, contents=contents, system_texts=system_texts,
        tools=tool_request.get("tools", []), tool_config=tool_request.get("toolConfig"), thinking=thinking,
        max_tokens=max_tokens, sampling=_sampling(body),
        stop_sequences=_stop_sequences(body.get("stop_sequences")),
    )


# ---------------------------------------------------------------------------------------------------- pieces


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _system_texts(system: object) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system] if system.strip() else []
    if not isinstance(system, list):
        raise ClientError("system must be a string or an array of text blocks", param="system")
    texts = []
    for i, block in enumerate(system):
        if isinstance(block, str):
            text = block
        elif isinstance(block, dict) and block.get("type", "text") == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise ClientError(f"system[{i}].text must be a string", param=f"system[{i}].text")
        else:
            continue  # other block kinds carry nothing for the system instruction
        if text.strip():
            texts.append(text)
    return texts


def _turns(messages: list[Any], system_texts: list[str]) -> list[tuple[int, str, list[Any]]]:
    """(index of the first message, role, blocks) per merged turn; system messages are lifted out."""
    turns: list[tuple[int, str, list[Any]]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ClientError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            system_texts.extend(_system_texts(content))
            continue
        if role not in ("user", "assistant"):
            raise ClientError(f"messages[{i}].role must be 'user' or 'assistant'", param=f"messages[{i}].role")
        if isinstance(content, str):
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = list(content)
        else:
            raise ClientError(f"messages[{i}].content must be a string or an array of content blocks",
                              param=f"messages[{i}].content")
        if turns and turns[-1][1] == role:
            turns[-1][2].extend(blocks)
        else:
            turns.append((i, role, blocks))
    return turns


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if contents and contents[-1]["role"] == role:
        merged = contents[-1]["parts"] + parts
        if role == "user":  # tool results stay in front of the merged turn
            merged = [p for p in merged if "functionResponse" in p] + [p for p in merged if "functionResponse" not in p]
        contents[-1] = {"role": role, "parts": merged}
    else:
        contents.append({"role": role, "parts": parts})


def _tools(tools: object, ctx: TranslateContext, family: str) -> ToolSet:
    """Declarations through the shared :class:`ToolSet` (cleaned schemas, search grounding by tool name)."""
    toolset = ToolSet(family, clean=ctx.clean_tool_schema)
    if tools is None:
        return toolset
    if not isinstance(tools, list):
        raise ClientError("tools must be an array", param="tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise ClientError(f"tools[{i}] must be an object", param=f"tools[{i}]")
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            toolset.search = True  # Anthropic's server-side search → Google-search grounding
            continue
        if kind not in (None, "custom") and "input_schema" not in tool:
            continue  # Anthropic-defined tools (bash_2025…, computer_…) have no schema to declare upstream
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise ClientError(f"tools[{i}].input_schema must be an object", param=f"tools[{i}].input_schema")
        toolset.add_function(tool.get("name"), tool.get("description"),
                             schema or {"type": "object", "properties": {}}, f"tools[{i}]")
    return toolset


def _tool_choice(choice: object) -> ToolChoice | None:
    if choice is None:
        return None
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise ClientError("tool_choice must be an object with a type", param="tool_choice")
    kind = choice["type"]
    if kind in ("auto", "none", "any"):
        return ToolChoice({"auto": "AUTO", "none": "NONE", "any": "ANY"}[kind])  # type: ignore[arg-type]
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError("tool_choice.name must name one of the declared tools", param="tool_choice.name")
        return ToolChoice("ANY", (name,))
    raise ClientError("tool_choice.type must be auto, any, tool or none", param="tool_choice.type")


def _thinking_request(thinking: object, output_config: object) -> ThinkingRequest:
    """Anthropic's thinking switches in dialect-neutral form: ``enabled`` + budget → a budget; ``adaptive`` →
    the effort when given, else the default budget; ``disabled`` → off; only ``output_config.effort`` → effort."""
    effort = None
    if isinstance(output_config, dict) and output_config.get("effort") is not None:
        value = output_config["effort"]
        if not isinstance(value, str) or value.lower() not in _EFFORTS:
            raise ClientError("output_config.effort must be low, medium, high or max", param="output_config.effort")
        effort = value.lower()
    if thinking is None:
        return ThinkingRequest.from_effort(effort) if effort else ThinkingRequest()
    if not isinstance(thinking, dict):
        raise ClientError("thinking must be an object", param="thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        return ThinkingRequest("off", include_thoughts=False)
    if kind == "adaptive":
        return ThinkingRequest.from_effort(effort) if effort else ThinkingRequest.from_budget(DEFAULT_THINKING_BUDGET)
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            return ThinkingRequest.from_effort(effort) if effort else ThinkingRequest.from_budget(
                DEFAULT_THINKING_BUDGET)
        if not _is_int(budget) or budget < 0:
            raise ClientError("thinking.budget_tokens must be a non-negative integer", param="thinking.budget_tokens")
        return ThinkingRequest.from_budget(budget)
    raise ClientError("thinking.type must be enabled, adaptive or disabled", param="thinking.type")


def _stop_sequences(stops: object) -> list[str]:
    if stops is None:
        return []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ClientError("stop_sequences must be an array of strings", param="stop_sequences")
    out: list[str] = []
    for stop in stops:
        if stop and stop not in out:
            out.append(stop)
    return out


def _sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if not _is_number(value) or not low <= value <= high:
            raise ClientError(f"{key} must be a number from {low:g} to {high:g}", param=key)
        out[key] = value
    top_k = body.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 1:
            raise ClientError("top_k must be a positive integer", param="top_k")
        out["top_k"] = top_k
    return out
