"""The rules a request must pass after it parsed as proto JSON (upstream-protocol.md §4.4, §9, §11.2, §12 items 5–12).

Each rule is one switch in :class:`~.settings.Strictness`. Messages are the real ones where the reference quotes
a capture; where it marks the wording as inferred (⚠️) the text here is our best guess and says so in a comment.
Claude errors travel as Anthropic JSON inside ``error.message`` (see ``errors.claude_invalid``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import errors
from .models import ModelSpec
from .proto import GENERATE_ENVELOPE, Message, check, get
from .settings import Strictness
from .state import FakeState

GEMINI_SIGNATURE_MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
GEMINI_SIGNATURE_INVALID = (
    "Unable to submit request because Thought signature is not valid.. Learn more: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
)
CLAUDE_THINKING_FIRST = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` "
    "is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
    "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid "
    "this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
CLAUDE_PREFILL = ("This model does not support assistant message prefill. The conversation must end with a user "
                  "message.")


def check_proto(body: Any, msg: Message, strict: Strictness) -> None:
    if not strict.proto_fields:
        return
    violations = check(body, msg, schema_whitelist=strict.schema_whitelist)
    if violations:
        raise errors.invalid_argument("\n".join(v.message for v in violations),
                                      [(v.field, v.message) for v in violations])


def check_envelope(envelope: Any, strict: Strictness) -> None:
    if not isinstance(envelope, dict):
        raise errors.invalid_argument(
            f"Invalid JSON payload received. Expected an object, got {type(envelope).__name__}.")
    check_proto(envelope, GENERATE_ENVELOPE, strict)


# ------------------------------------------------------------------------------------------------ helpers


def parts_of(content: Any) -> list[dict]:
    parts = get(content, "parts", [])
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def calls_of(content: Any) -> list[tuple[int, dict, dict]]:
    """(part index, part, functionCall) for every function call in a content."""
    return [(j, p, get(p, "functionCall")) for j, p in enumerate(parts_of(content)) if get(p, "functionCall")]


def responses_of(content: Any) -> list[tuple[int, dict]]:
    return [(j, get(p, "functionResponse")) for j, p in enumerate(parts_of(content)) if get(p, "functionResponse")]


def has_user_text(content: Any) -> bool:
    return any(isinstance(get(p, "text"), str) and not get(p, "thought") for p in parts_of(content))


def estimate_tokens(request: dict) -> int:
    """chars/4 over all text, call arguments and tool results, plus 258 per inline blob (Gemini's image cost)."""
    chars = 0
    blobs = 0
    contents = list(get(request, "contents", []) or [])
    if (system := get(request, "systemInstruction")) is not None:
        contents.append(system)
    for content in contents:
        for part in parts_of(content):
            if isinstance(text := get(part, "text"), str):
                chars += len(text)
            if (call := get(part, "functionCall")) is not None:
                chars += len(str(get(call, "name", ""))) + len(json.dumps(get(call, "args", {}), ensure_ascii=False))
            if (resp := get(part, "functionResponse")) is not None:
                chars += len(json.dumps(get(resp, "response", {}), ensure_ascii=False))
            if get(part, "inlineData") is not None or get(part, "fileData") is not None:
                blobs += 1
    for tool in get(request, "tools", []) or []:
        chars += len(json.dumps(tool, ensure_ascii=False))
    return math.ceil(chars / 4) + 258 * blobs


def thinking_config(request: dict) -> dict:
    return get(get(request, "generationConfig", {}), "thinkingConfig", {}) or {}


def claude_thinking_enabled(model: ModelSpec, request: dict) -> bool:
    cfg = thinking_config(request)
    budget = get(cfg, "thinkingBudget")
    if budget is not None and int(budget) == 0:
        return False
    if get(cfg, "includeThoughts") is True or (budget is not None and int(budget) > 0):
        return True
    return "thinking" in model.id


# ------------------------------------------------------------------------------------------------ the rules


class Rules:
    def __init__(self, state: FakeState, strict: Strictness, model: ModelSpec, request: dict) -> None:
        self.state = state
        self.strict = strict
        self.model = model
        self.request = request
        self.contents = [c for c in (get(request, "contents", []) or []) if isinstance(c, dict)]
        self.claude = model.family == "claude"

    def claude_error(self, inner: str) -> errors.RpcError:
        return errors.claude_invalid(inner, f"req_vrtx_011CZ{self.state.base62(20)}")

    def run(self) -> None:
        if self.strict.part_shape:
            self.part_shape()
        if self.strict.search_tool_mix:
            self.search_tool_mix()
        self.generation_config()
        if self.claude:
            self.claude_rules()
        else:
            self.gemini_rules()
        if self.strict.prompt_too_long:
            self.prompt_length()

    # --------------------------------------------------------------------------------------------- shape

    def part_shape(self) -> None:
        raw = get(self.request, "contents")
        if not raw:
            raise errors.invalid_argument("* GenerateContentRequest.contents: contents is not specified\n")
        for i, content in enumerate(self.contents):
            role = get(content, "role", "")
            if role not in ("user", "model"):
                raise errors.invalid_argument("Please use a valid role: user, model.")
            parts = get(content, "parts")
            if not parts:
                raise errors.invalid_argument(
                    "Unable to submit request because it must have at least one parts field, which describes the "
                    "prompt input. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini")
            for j, part in enumerate(parts_of(content)):
                if not any(get(part, k) is not None for k in ("text", "inlineData", "fileData", "functionCall",
                                                              "functionResponse", "executableCode",
                                                              "codeExecutionResult")):
                    # Wording of the Gemini API for an empty oneof (⚠️ Cloud Code's exact text not captured).
                    raise errors.invalid_argument(
                        f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must "
                        "have one initialized field\n")

    def search_tool_mix(self) -> None:
        tools = [t for t in get(self.request, "tools", []) or [] if isinstance(t, dict)]
        search = any(get(t, "googleSearch") is not None or get(t, "googleSearchRetrieval") is not None for t in tools)
        functions = any(get(t, "functionDeclarations") for t in tools)
        if search and functions:
            raise errors.invalid_argument("Multiple tools are supported only when they are all search tools.")

    # --------------------------------------------------------------------------------------------- config

    def generation_config(self) -> None:
        cfg = get(self.request, "generationConfig", {}) or {}
        thinking = get(cfg, "thinkingConfig", {}) or {}
        max_out = get(cfg, "maxOutputTokens")
        budget = get(thinking, "thinkingBudget")
        level = get(thinking, "thinkingLevel")
        cap = self.model.max_output_tokens
        if self.strict.max_output_tokens and max_out is not None and not 1 <= int(max_out) <= cap:
            # Vertex wording (⚠️ inferred in §11.2).
            raise errors.invalid_argument(
                f"Unable to submit request because it has a maxOutputTokens value of {int(max_out)} but the supported "
                f"range is from 1 (inclusive) to {cap + 1} (exclusive). Update the value and try again.")
        stops = get(cfg, "stopSequences", []) or []
        if self.strict.stop_sequences and len(stops) > 5:
            # ⚠️ inferred wording: the limit (5) is documented, the text is not.
            raise errors.invalid_argument(
                f"Unable to submit request because it has {len(stops)} stop sequences but the maximum is 5. Update "
                "the value and try again.")
        if level is not None:
            gemini3_only = self.strict.thinking_level_gemini3_only and not self.model.gemini3
            if self.strict.thinking_level_rejected or gemini3_only:
                raise errors.invalid_argument(  # ⚠️ inferred wording
                    "Unable to submit request because thinking_level is not supported by this model. Learn more: "
                    "https://cloud.google.com/vertex-ai/generative-ai/docs/thinking")
            if self.strict.thinking_exclusive and budget is not None:
                raise errors.invalid_argument(  # ⚠️ inferred wording
                    "Unable to submit request because thinking_budget and thinking_level are both set; set only one "
                    "of them.")
        if self.claude and self.strict.claude_min_budget and budget is not None and 0 < int(budget) < 1024:
            raise self.claude_error("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if (self.strict.budget_below_max and budget is not None and max_out is not None
                and int(budget) > 0 and int(max_out) <= int(budget)):
            if self.claude:
                raise self.claude_error(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
            raise errors.invalid_argument(  # ⚠️ inferred wording ([L]: "v1internal requires maxOutputTokens > budget")
                f"Unable to submit request because maxOutputTokens ({int(max_out)}) must be greater than "
                f"thinkingBudget ({int(budget)}). Update the value and try again.")

    # --------------------------------------------------------------------------------------------- Gemini

    def gemini_rules(self) -> None:
        for i, content in enumerate(self.contents):
            calls = calls_of(content)
            if get(content, "role") != "model" or not calls:
                continue
            if self.strict.gemini_turn_order and (i == 0 or get(self.contents[i - 1], "role") != "user"):
                raise errors.invalid_argument(
                    "Please ensure that function call turn comes immediately after a user turn or after a function "
                    "response turn.")
            if self.strict.gemini_response_count and i + 1 < len(self.contents):
                answered = responses_of(self.contents[i + 1])
                if answered and len(answered) != len(calls):
                    raise errors.invalid_argument(
                        "Please ensure that the number of function response parts is equal to the number of function "
                        "call parts of the function call turn.")
        if self.model.gemini3 and self.strict.gemini3_signatures:
            self.gemini3_signatures()

    def gemini3_signatures(self) -> None:
        start = 0
        if self.strict.gemini_signature_scope == "current_turn":
            for i, content in enumerate(self.contents):
                if get(content, "role") == "user" and has_user_text(content):
                    start = i
        for i in range(start, len(self.contents)):
            content = self.contents[i]
            if get(content, "role") != "model":
                continue
            calls = calls_of(content)
            if calls:
                _, first, call = calls[0]
                if not get(first, "thoughtSignature"):
                    raise errors.invalid_argument(
                        GEMINI_SIGNATURE_MISSING.format(name=get(call, "name", ""), position=i))
            if self.strict.reject_foreign_signatures:
                for part in parts_of(content):
                    sig = get(part, "thoughtSignature")
                    if sig and self.state.signature_family(sig, accept_e_form=False) not in ("gemini", "sentinel"):
                        raise errors.invalid_argument(GEMINI_SIGNATURE_INVALID, legacy=True)

    # --------------------------------------------------------------------------------------------- Claude

    def claude_rules(self) -> None:
        s = self.strict
        if s.claude_prefill and self.contents and get(self.contents[-1], "role") == "model":
            raise self.claude_error(CLAUDE_PREFILL)
        for i, content in enumerate(self.contents):
            for j, part in enumerate(parts_of(content)):
                text = get(part, "text")
                thought = bool(get(part, "thought"))
                if s.claude_empty_text and isinstance(text, str) and not thought and not text.strip() \
                        and not get(part, "thoughtSignature"):
                    raise self.claude_error("messages: text content blocks must be non-empty")
                if thought and s.claude_signatures:
                    sig = get(part, "thoughtSignature")
                    if not sig:
                        raise self.claude_error(f"messages.{i}.content.{j}.thinking.signature: Field required")
                    family = self.state.signature_family(sig, accept_e_form=s.claude_accept_e_form)
                    if family != "claude":
                        raise self.claude_error(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
        if s.claude_tool_pairing:
            self.claude_pairing()
        if s.claude_thinking_first and claude_thinking_enabled(self.model, self.request):
            self.claude_thinking_first()

    def claude_pairing(self) -> None:
        previous_ids: set[str] = set()
        for i, content in enumerate(self.contents):
            for j, response in responses_of(content):
                rid = get(response, "id")
                if not rid:
                    raise self.claude_error(f"messages.{i}.content.{j}.tool_result.tool_use_id: Field required")
                if rid not in previous_ids:
                    raise self.claude_error(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {rid}. "
                        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
            calls = calls_of(content)
            ids = []
            for j, _, call in calls:
                cid = get(call, "id")
                if not cid:
                    raise self.claude_error(f"messages.{i}.content.{j}.tool_use.id: Field required")
                ids.append(cid)
            if ids:
                following = self.contents[i + 1] if i + 1 < len(self.contents) else None
                answered = {get(r, "id") for _, r in responses_of(following)} if following is not None else set()
                missing = [cid for cid in ids if cid not in answered]
                if missing:
                    raise self.claude_error(
                        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                        f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block "
                        "in the next message.")
            previous_ids = set(ids)

    def claude_thinking_first(self) -> None:
        if len(self.contents) < 2:
            return
        last, before = self.contents[-1], self.contents[-2]
        if get(last, "role") != "user" or not responses_of(last) or get(before, "role") != "model":
            return
        parts = parts_of(before)
        if not parts or get(parts[0], "thought"):
            return
        found = "tool_use" if get(parts[0], "functionCall") else "text"
        raise self.claude_error(CLAUDE_THINKING_FIRST.format(i=len(self.contents) - 2, found=found))

    # --------------------------------------------------------------------------------------------- length

    def prompt_length(self) -> None:
        tokens = estimate_tokens(self.request)
        limit = self.model.context_window
        if tokens <= limit:
            return
        if self.claude:
            raise self.claude_error(f"prompt is too long: {tokens} tokens > {limit} maximum")
        raise errors.invalid_argument(
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({limit}).")
