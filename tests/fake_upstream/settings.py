"""Switches for the fake: which rules of the real service it enforces, and a few output choices.

Defaults are the real service's behaviour as far as upstream-protocol.md knows it. Where the reference marks a
point as uncertain (❓) the default is lenient and a switch makes it strict. Tests flip single switches, e.g.
``fake.strict.claude_prefill = False``; out of process: ``POST /_fake/strict {"claude_prefill": false}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class Strictness:
    # transport / auth (§12 items 3)
    auth: bool = True  # 401 for a missing, unknown or expired bearer token
    user_agent: bool = True  # 403 unless the UA starts with "antigravity" or "google-api-nodejs-client"
    min_client_version: str | None = None  # version gate (§4.8): older clients get the "no longer supported" text
    # request shape (§12 items 5, 6, 7, 8)
    proto_fields: bool = True  # unknown field names / wrong JSON kinds → 400 "Invalid JSON payload received ..."
    schema_whitelist: bool = True  # tool parameter schemas parsed as the Vertex Schema proto (§10.1)
    part_shape: bool = True  # contents non-empty, roles user/model, parts non-empty, one data field per part
    search_tool_mix: bool = True  # googleSearch next to functionDeclarations → 400
    # Gemini rules (§4.4, §9.1)
    gemini_turn_order: bool = True  # a function-call turn must follow a user / function-response turn
    gemini_response_count: bool = True  # #functionResponse parts == #functionCall parts of the previous turn
    gemini3_signatures: bool = True  # first functionCall of a replayed Gemini-3 turn needs a signature
    gemini_signature_scope: str = "current_turn"  # or "all": which model turns the rule above checks
    reject_foreign_signatures: bool = True  # a signature the fake did not issue for Gemini → "not valid" 400
    # Claude rules (§4.4, §9.1)
    claude_signatures: bool = True  # thought parts need a signature the fake issued for Claude
    claude_accept_e_form: bool = True  # also accept the decoded (E-form) of an issued R-form signature (❓)
    claude_thinking_first: bool = True  # thinking on + tool loop → the last assistant turn starts with thinking
    claude_tool_pairing: bool = True  # tool_use ids answered by tool_result ids in the very next turn
    claude_prefill: bool = True  # conversation must end with a user turn
    claude_empty_text: bool = True  # empty (non-thought) text parts rejected
    claude_min_budget: bool = True  # thinkingBudget < 1024 rejected for Claude
    # generation config (§12 item 10, 11, 12)
    max_output_tokens: bool = True  # maxOutputTokens within [1, model cap]
    budget_below_max: bool = True  # maxOutputTokens must exceed thinkingBudget when both are set
    stop_sequences: bool = True  # at most 5
    thinking_level_gemini3_only: bool = True  # thinkingLevel only for Gemini 3 ids
    thinking_level_rejected: bool = False  # emulate [L]'s claim that v1internal rejects thinkingLevel entirely
    thinking_exclusive: bool = True  # thinkingLevel and thinkingBudget together → 400
    prompt_too_long: bool = True  # chars/4 estimate above the model's context window → 400
    unknown_model: bool = True  # model not in the account's table → 404


@dataclass
class Behaviour:
    gemini_call_ids: bool = False  # Gemini functionCall parts carry ids (real: usually absent)
    claude_signature_position: str = "separate"  # "separate" empty-text thought part, or "last_fragment"
    model_version_suffix: str = ""  # e.g. "-a": modelVersion = id + suffix (captures show "gemini-3-flash-a")
    count_tokens_nested: bool = False  # answer countTokens as {"response": {"totalTokens": n}}
    text_fragment_chars: int = 24  # default size of streamed text fragments
    access_token_ttl: int = 3599  # expires_in of issued access tokens
    check_oauth_client: bool = True  # /token rejects a wrong client id/secret with invalid_client
    retry_after_header: bool = False  # every 429/503 also carries Retry-After (seconds)
    # Write a stream's events in one TCP write when nothing (delay, stall, split) separates them: makes the fake
    # cheap enough for load tests. Off by default: one write per event is what a generating model looks like.
    coalesce_events: bool = False
    # Answer a repeated streamed request (same model, contents, config, tools) with the bytes of its first answer
    # — ids, signatures and trace id included — instead of generating it again: the benchmarks' fake then costs
    # ~1 ms of CPU per stream instead of ~3, and stops being the bottleneck at 200 concurrent streams.
    reuse_replies: bool = False


def apply_changes(target: Any, changes: dict[str, Any]) -> list[str]:
    """Set known fields from a JSON object (control endpoint); returns the unknown keys."""
    names = {f.name for f in dataclasses.fields(target)}
    unknown = [k for k in changes if k not in names]
    for key, value in changes.items():
        if key in names:
            setattr(target, key, value)
    return unknown
