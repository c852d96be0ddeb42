"""Gemini ``generateContent`` / ``countTokens`` bodies → upstream ``request`` (upstream-protocol §8.5).

The client already speaks the upstream's inner format, so this is mostly a careful pass-through:

* camelCase and snake_case are both accepted (proto3 JSON) and normalised to camelCase at the structural
  positions only — never inside ``functionCall.args``, ``functionResponse.response`` or schema property maps;
* ``parametersJsonSchema`` becomes ``parameters``, every tool schema and ``responseSchema``/``responseJsonSchema``
  is cleaned (§10), function declarations win over search grounding (they cannot be mixed);
* contents get the shared hygiene, the thought-signature rules (a replayed ``functionCall`` without a signature
  gets one from the caches or the sentinel — never for Claude), ids on calls and responses for Claude targets
  (Claude pairs ``tool_use``/``tool_result`` by id), and unanswered calls are closed when recovery is on;
* ``thinkingConfig`` goes through the shared thinking rules (``thinkingLevel`` kept for Gemini 3, budgets clamped,
  ``-1`` dropped), ``maxOutputTokens`` through the per-model caps;
* ``cachedContent``, ``labels`` and the client's own ``sessionId`` are dropped (we set ours).

The response side is ``gemini_stream``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antigravityd.translate.context import TranslateContext
from antigravityd.translate.errors import ClientError
from antigravityd.translate.generation import ThinkingRequest, output_limit, stop_sequences, thinking_config
from antigravityd.translate.hygiene import close_tool_loops, normalize_contents
from antigravityd.translate.models import ModelRoute
from antigravityd.translate.schema import SchemaCache, clean_tool_schema
from antigravityd.translate.signatures import apply_history_signatures
from antigravityd.translate.tools import ToolSet

__all__ = ["count_tokens_request", "gemini_request_to_upstream"]

_PART_OBJECTS = ("inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
                 "codeExecutionResult", "videoMetadata")
_GENERATION_KEYS = frozenset({
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "presencePenalty",
    "frequencyPenalty", "seed", "responseMimeType", "responseSchema", "responseModalities", "thinkingConfig",
    "imageConfig", "responseLogprobs", "logprobs", "mediaResolution", "speechConfig",
})
_BUILTIN_TOOLS = ("googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext")


def camel(key: str) -> str:
    """``thinking_config`` → ``thinkingConfig``; camelCase keys are returned unchanged."""
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _camel_keys(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.setdefault(camel(key) if isinstance(key, str) else key, item)
    return out


def gemini_request_to_upstream(body: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    """The inner upstream ``request`` for a Gemini ``generateContent`` body. Raises ClientError when malformed."""
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    body = _camel_keys(body)
    family = route.family
    contents = _contents(body.get("contents"), "contents")
    if family == "claude":
        contents = _with_call_ids(contents)
    contents = normalize_contents(contents, family)
    contents = apply_history_signatures(contents, family=family, session_id=ctx.session_id, cache=ctx.signatures)
    contents = normalize_contents(contents, family)
    if ctx.tool_loop_recovery:
        contents = close_tool_loops(contents)
    if not contents:
        raise ClientError("contents must contain at least one non-empty part", param="contents")

    request: dict[str, Any] = {"contents": contents}
    if (system := _system(body.get("systemInstruction"))) is not None:
        request["systemInstruction"] = system
    request.update(_tools(body.get("tools"), body.get("toolConfig"), family, ctx.clean_tool_schema))
    request["generationConfig"] = _generation(body.get("generationConfig"), route, ctx)
    safety = body.get("safetySettings")
    if isinstance(safety, list) and safety:
        request["safetySettings"] = [_camel_keys(s) for s in safety if isinstance(s, dict)]
    return request


def count_tokens_request(body: object, route: ModelRoute, schemas: SchemaCache | None = None) -> dict[str, Any]:
    """The upstream ``countTokens`` body ``{"request": {contents, systemInstruction?, tools?}}`` (§13 #9).

    Accepts the public API's two shapes: ``{"contents": …}`` and ``{"generateContentRequest": {…}}``.
    """
    if not isinstance(body, dict):
        raise ClientError("the request body must be a JSON object")
    body = _camel_keys(body)
    if isinstance(body.get("generateContentRequest"), dict):
        body = _camel_keys(body["generateContentRequest"])
    contents = normalize_contents(_contents(body.get("contents"), "contents"), route.family)
    if not contents:
        raise ClientError("contents must contain at least one non-empty part", param="contents")
    request: dict[str, Any] = {"contents": contents}
    if (system := _system(body.get("systemInstruction"))) is not None:
        request["systemInstruction"] = system
    clean = schemas.clean_tool_schema if schemas else clean_tool_schema
    tools = _tools(body.get("tools"), None, route.family, clean).get("tools")
    if tools:
        request["tools"] = tools
    return {"request": request}


# ---------------------------------------------------------------------------------------------------- contents


def _contents(value: object, param: str) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = [value]  # a single Content is accepted by the public API
    if not isinstance(value, list) or not value:
        raise ClientError(f"{param} must be a non-empty array of Content objects", param=param)
    contents = []
    for i, raw in enumerate(value):
        where = f"{param}[{i}]"
        content = _camel_keys(raw)
        if not content:
            raise ClientError(f"{where} must be a Content object", param=where)
        role = content.get("role") or "user"
        if role == "function":  # the public API's old role for function responses
            role = "user"
        if role not in ("user", "model"):
            raise ClientError(f"{where}.role must be 'user' or 'model'", param=f"{where}.role")
        parts = content.get("parts")
        if not isinstance(parts, list):
            raise ClientError(f"{where}.parts must be an array", param=f"{where}.parts")
        contents.append({"role": role, "parts": [_part(p, f"{where}.parts[{j}]") for j, p in enumerate(parts)]})
    return contents


def _part(raw: object, param: str) -> dict[str, Any]:
    part = _camel_keys(raw)
    if not part:
        raise ClientError(f"{param} must be a Part object", param=param)
    if "text" in part and not isinstance(part["text"], str):
        raise ClientError(f"{param}.text must be a string", param=f"{param}.text")
    for key in _PART_OBJECTS:
        if key in part:
            if not isinstance(part[key], dict):
                raise ClientError(f"{param}.{key} must be an object", param=f"{param}.{key}")
            part[key] = _camel_keys(part[key])
    call = part.get("functionCall")
    if call is not None:
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise ClientError(f"{param}.functionCall.name must be a non-empty string",
                              param=f"{param}.functionCall.name")
        if call.get("args") is None:
            call["args"] = {}
        elif not isinstance(call["args"], dict):
            raise ClientError(f"{param}.functionCall.args must be an object", param=f"{param}.functionCall.args")
    response = part.get("functionResponse")
    if response is not None and not isinstance(response.get("response", {}), dict):
        raise ClientError(f"{param}.functionResponse.response must be an object",
                          param=f"{param}.functionResponse.response")
    inline = part.get("inlineData")
    if inline is not None and (not isinstance(inline.get("data"), str) or not inline["data"]):
        raise ClientError(f"{param}.inlineData.data must be base64 data", param=f"{param}.inlineData.data")
    return part


def _with_call_ids(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude pairs calls and results by id: give id-less calls ids and their responses the same, by name and
    order within the next user turn."""
    out = [dict(c, parts=list(c["parts"])) for c in contents]
    counter = 0
    for i, content in enumerate(out):
        if content["role"] != "model":
            continue
        assigned: list[tuple[str, str]] = []
        for j, part in enumerate(content["parts"]):
            call = part.get("functionCall")
            if isinstance(call, dict) and not call.get("id"):
                counter += 1
                call_id = f"call_{counter}"
                content["parts"][j] = {**part, "functionCall": {**call, "id": call_id}}
                assigned.append((call["name"], call_id))
        if not assigned or i + 1 >= len(out) or out[i + 1]["role"] != "user":
            continue
        following = out[i + 1]["parts"]
        for j, part in enumerate(following):
            response = part.get("functionResponse")
            if isinstance(response, dict) and not response.get("id"):
                match = next((a for a in assigned if a[0] == response.get("name")), None)
                if match is not None:
                    assigned.remove(match)
                    following[j] = {**part, "functionResponse": {**response, "id": match[1]}}
    return out


def _system(value: object) -> dict[str, Any] | None:
    if isinstance(value, str):
        return {"role": "user", "parts": [{"text": value}]} if value.strip() else None
    content = _camel_keys(value)
    parts = content.get("parts")
    if not isinstance(parts, list):
        return None
    texts = [{"text": p["text"]} for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
             and p["text"].strip()]
    return {"role": "user", "parts": texts} if texts else None


# ---------------------------------------------------------------------------------------------------- tools


def _tools(value: object, config: object, family: str, clean: Callable[[object], dict[str, Any]]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ClientError("tools must be an array of Tool objects", param="tools")
    tools = ToolSet(family, search_by_name=False, clean=clean)
    builtins: list[dict[str, Any]] = []
    for i, raw in enumerate(value):
        tool = _camel_keys(raw)
        declarations = tool.get("functionDeclarations")
        if declarations is not None:
            if not isinstance(declarations, list):
                raise ClientError(f"tools[{i}].functionDeclarations must be an array",
                                  param=f"tools[{i}].functionDeclarations")
            for j, raw_decl in enumerate(declarations):
                decl = _camel_keys(raw_decl)
                param = f"tools[{i}].functionDeclarations[{j}]"
                schema = decl.get("parameters", decl.get("parametersJsonSchema"))
                tools.add_function(decl.get("name"), decl.get("description"), schema, param)
        builtins.extend({key: _camel_keys(tool[key])} for key in _BUILTIN_TOOLS if key in tool)
    out: dict[str, Any] = {}
    if tools.declarations:
        out["tools"] = [{"functionDeclarations": tools.declarations}]
        search = {"googleSearch", "googleSearchRetrieval"}
        out["tools"].extend(b for b in builtins if not search & b.keys())
        tool_config = _camel_keys(config)
        calling = _camel_keys(tool_config.get("functionCallingConfig"))
        if calling:
            out["toolConfig"] = {"functionCallingConfig": calling}
        elif family == "claude":
            out["toolConfig"] = {"functionCallingConfig": {"mode": "VALIDATED"}}
    elif builtins:
        out["tools"] = builtins
    return out


# ---------------------------------------------------------------------------------------------------- config


def _generation(value: object, route: ModelRoute, ctx: TranslateContext) -> dict[str, Any]:
    if value is not None and not isinstance(value, dict):
        raise ClientError("generationConfig must be an object", param="generationConfig")
    raw = _camel_keys(value)
    config = {k: v for k, v in raw.items() if k in _GENERATION_KEYS}
    caps = ctx.caps(route)
    schema = raw.get("responseJsonSchema", raw.get("responseSchema"))
    config.pop("responseSchema", None)
    if schema is not None:
        config["responseSchema"] = ctx.clean_response_schema(schema)
    if "stopSequences" in config:
        stops = stop_sequences(config.pop("stopSequences"), "generationConfig.stopSequences")
        if stops:
            config["stopSequences"] = stops
    if "imageConfig" in config:
        config["imageConfig"] = _camel_keys(config["imageConfig"])

    thinking_raw = config.pop("thinkingConfig", None)
    thinking = None
    if thinking_raw is not None or caps.family == "claude":
        thinking = thinking_config(_thinking_request(thinking_raw), caps)
    max_tokens = config.pop("maxOutputTokens", None)
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ClientError("generationConfig.maxOutputTokens must be a positive integer",
                          param="generationConfig.maxOutputTokens")
    limit, thinking = output_limit(max_tokens, thinking, caps)
    if limit is not None:
        config["maxOutputTokens"] = limit
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _thinking_request(value: object) -> ThinkingRequest:
    if value is None:
        return ThinkingRequest(include_thoughts=False)
    if not isinstance(value, dict):
        raise ClientError("generationConfig.thinkingConfig must be an object",
                          param="generationConfig.thinkingConfig")
    raw = _camel_keys(value)
    include = raw.get("includeThoughts") is True
    level = raw.get("thinkingLevel")
    if isinstance(level, str) and level:
        return ThinkingRequest.from_effort(level, include_thoughts=include)
    budget = raw.get("thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool):
        return ThinkingRequest.from_budget(budget, include_thoughts=include)
    return ThinkingRequest(include_thoughts=include)
