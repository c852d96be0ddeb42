"""A proto3-JSON parser in miniature: walks a request against message declarations and reports what Google's ESF
front end would reject, in its words (upstream-protocol.md §0, §4.4, §10.1):

* ``Invalid JSON payload received. Unknown name "<key>" at '<path>': Cannot find field.``
* ``Invalid JSON payload received. Unknown name "<key>" at '<path>': Proto field is not repeating, cannot start list.``
* ``Invalid value at '<path>' (<type>), <value>`` for a wrong JSON kind, bad enum name or bad base64.

Field names are accepted in lowerCamelCase and snake_case; paths in messages use snake_case with indexes, map
entries as ``properties[<n>].value`` — exactly the forms quoted from real captures. ``null`` means "unset".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

AIP = "type.googleapis.com/google.cloud.aiplatform.master."


@dataclass
class Enum:
    full_name: str
    names: frozenset[str]

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        # Real clients send lower-case names ("low", "object") and the service takes them (§2.5, §13 #3).
        return isinstance(value, str) and value.upper() in self.names


@dataclass
class Message:
    full_name: str
    fields: dict[str, Any] = field(default_factory=dict)  # camelName -> spec
    oneofs: dict[str, str] = field(default_factory=dict)  # camelName -> oneof group name


# A spec is one of: "string" "bool" "int32" "int64" "float" "bytes" "struct" "value", an Enum, a Message,
# ("repeated", spec) or ("map", spec).


def repeated(spec: Any) -> tuple[str, Any]:
    return ("repeated", spec)


def map_of(spec: Any) -> tuple[str, Any]:
    return ("map", spec)


def enum(name: str, *values: str) -> Enum:
    return Enum(name, frozenset(values))


# ------------------------------------------------------------------------------------------------ declarations

TYPE = enum(AIP + "Type", "TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")
SCHEMA = Message(AIP + "Schema")
SCHEMA.fields.update({
    "type": TYPE, "format": "string", "title": "string", "description": "string", "nullable": "bool",
    "enum": repeated("string"), "maxItems": "int64", "minItems": "int64", "properties": map_of(SCHEMA),
    "required": repeated("string"), "minProperties": "int64", "maxProperties": "int64", "minLength": "int64",
    "maxLength": "int64", "pattern": "string", "example": "value", "anyOf": repeated(SCHEMA),
    "propertyOrdering": repeated("string"), "default": "value", "items": SCHEMA, "minimum": "float",
    "maximum": "float",
})

BLOB = Message(AIP + "Blob", {"mimeType": "string", "data": "bytes", "displayName": "string"})
FILE_DATA = Message(AIP + "FileData", {"mimeType": "string", "fileUri": "string", "displayName": "string"})
FUNCTION_CALL = Message(AIP + "FunctionCall", {"id": "string", "name": "string", "args": "struct"})
FUNCTION_RESPONSE = Message(AIP + "FunctionResponse", {
    "id": "string", "name": "string", "response": "struct", "willContinue": "bool",
    "scheduling": enum(AIP + "FunctionResponse.Scheduling", "SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE",
                       "INTERRUPT"),
    "parts": repeated("struct"),
})
EXECUTABLE_CODE = Message(AIP + "ExecutableCode", {
    "language": enum(AIP + "ExecutableCode.Language", "LANGUAGE_UNSPECIFIED", "PYTHON"), "code": "string",
})
CODE_EXECUTION_RESULT = Message(AIP + "CodeExecutionResult", {
    "outcome": enum(AIP + "CodeExecutionResult.Outcome", "OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED",
                    "OUTCOME_DEADLINE_EXCEEDED"),
    "output": "string",
})
VIDEO_METADATA = Message(AIP + "VideoMetadata", {"startOffset": "string", "endOffset": "string", "fps": "float"})

PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
             "codeExecutionResult")
PART = Message(AIP + "Part", {
    "text": "string", "inlineData": BLOB, "fileData": FILE_DATA, "functionCall": FUNCTION_CALL,
    "functionResponse": FUNCTION_RESPONSE, "executableCode": EXECUTABLE_CODE,
    "codeExecutionResult": CODE_EXECUTION_RESULT, "thought": "bool", "thoughtSignature": "bytes",
    "videoMetadata": VIDEO_METADATA,
}, {name: "data" for name in PART_DATA})
CONTENT = Message(AIP + "Content", {"role": "string", "parts": repeated(PART)})

FUNCTION_DECLARATION = Message(AIP + "FunctionDeclaration", {
    "name": "string", "description": "string", "parameters": SCHEMA, "parametersJsonSchema": "value",
    "response": SCHEMA, "responseJsonSchema": "value",
    "behavior": enum(AIP + "FunctionDeclaration.Behavior", "UNSPECIFIED", "BLOCKING", "NON_BLOCKING"),
})
TOOL = Message(AIP + "Tool", {
    "functionDeclarations": repeated(FUNCTION_DECLARATION), "googleSearch": "struct",
    "googleSearchRetrieval": "struct", "codeExecution": "struct", "urlContext": "struct", "retrieval": "struct",
    "enterpriseWebSearch": "struct", "googleMaps": "struct", "computerUse": "struct",
})
FUNCTION_CALLING_CONFIG = Message(AIP + "FunctionCallingConfig", {
    "mode": enum(AIP + "FunctionCallingConfig.Mode", "MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"),
    "allowedFunctionNames": repeated("string"), "streamFunctionCallArguments": "bool",
})
TOOL_CONFIG = Message(AIP + "ToolConfig", {
    "functionCallingConfig": FUNCTION_CALLING_CONFIG, "retrievalConfig": "struct",
    # [L] sends it; whether the service knows it is unverified (❓) — accepted.
    "includeServerSideToolInvocations": "bool",
})
THINKING_LEVEL = enum(AIP + "GenerationConfig.ThinkingConfig.ThinkingLevel", "THINKING_LEVEL_UNSPECIFIED",
                      "MINIMAL", "LOW", "MEDIUM", "HIGH")
THINKING_CONFIG = Message(AIP + "GenerationConfig.ThinkingConfig", {
    "includeThoughts": "bool", "thinkingBudget": "int32", "thinkingLevel": THINKING_LEVEL,
})
IMAGE_CONFIG = Message(AIP + "ImageConfig", {
    "aspectRatio": "string", "imageSize": "string", "personGeneration": "string", "imageOutputOptions": "struct",
})
MODALITY = enum(AIP + "Modality", "MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO")
GENERATION_CONFIG = Message(AIP + "GenerationConfig", {
    "temperature": "float", "topP": "float", "topK": "float", "candidateCount": "int32", "maxOutputTokens": "int32",
    "stopSequences": repeated("string"), "presencePenalty": "float", "frequencyPenalty": "float", "seed": "int32",
    "responseMimeType": "string", "responseSchema": SCHEMA, "responseJsonSchema": "value",
    "responseModalities": repeated(MODALITY), "thinkingConfig": THINKING_CONFIG, "imageConfig": IMAGE_CONFIG,
    "responseLogprobs": "bool", "logprobs": "int32", "audioTimestamp": "bool", "speechConfig": "struct",
    "mediaResolution": enum(AIP + "GenerationConfig.MediaResolution", "MEDIA_RESOLUTION_UNSPECIFIED",
                            "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"),
    "routingConfig": "struct", "enableAffectiveDialog": "bool",
})
SAFETY_SETTING = Message(AIP + "SafetySetting", {
    "category": enum(AIP + "HarmCategory", "HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_HATE_SPEECH",
                     "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                     "HARM_CATEGORY_CIVIC_INTEGRITY", "HARM_CATEGORY_IMAGE_HATE", "HARM_CATEGORY_IMAGE_HARASSMENT",
                     "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT", "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
                     "HARM_CATEGORY_JAILBREAK"),
    "threshold": enum(AIP + "SafetySetting.HarmBlockThreshold", "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
                      "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"),
    "method": enum(AIP + "SafetySetting.HarmBlockMethod", "HARM_BLOCK_METHOD_UNSPECIFIED", "SEVERITY",
                   "PROBABILITY"),
})
GENERATE_CONTENT_REQUEST = Message(AIP + "GenerateContentRequest", {
    "contents": repeated(CONTENT), "systemInstruction": CONTENT, "tools": repeated(TOOL), "toolConfig": TOOL_CONFIG,
    "generationConfig": GENERATION_CONFIG, "safetySettings": repeated(SAFETY_SETTING), "sessionId": "string",
    "cachedContent": "string", "labels": map_of("string"),
})
CC = "type.googleapis.com/google.internal.cloud.code.v1internal."
GENERATE_ENVELOPE = Message(CC + "GenerateContentRequest", {
    "project": "string", "model": "string", "userAgent": "string", "requestType": "string", "requestId": "string",
    "request": GENERATE_CONTENT_REQUEST, "enabledCreditTypes": repeated("string"),
})
COUNT_TOKENS_REQUEST = Message(AIP + "CountTokensRequest", {
    "model": "string", "contents": repeated(CONTENT), "systemInstruction": CONTENT, "tools": repeated(TOOL),
    "generationConfig": GENERATION_CONFIG, "instances": repeated("value"),
})
COUNT_TOKENS_ENVELOPE = Message(CC + "CountTokensRequest", {"request": COUNT_TOKENS_REQUEST})
CLIENT_METADATA = Message(CC + "ClientMetadata", {
    "ideType": enum(CC + "ClientMetadata.IdeType", "IDE_UNSPECIFIED", "VSCODE", "INTELLIJ",
                    "VSCODE_CLOUD_WORKSTATION", "INTELLIJ_CLOUD_WORKSTATION", "CLOUD_SHELL", "ANTIGRAVITY"),
    "ideVersion": "string", "pluginVersion": "string",
    "platform": enum(CC + "ClientMetadata.Platform", "PLATFORM_UNSPECIFIED", "DARWIN_AMD64", "DARWIN_ARM64",
                     "LINUX_AMD64", "LINUX_ARM64", "WINDOWS_AMD64"),
    "updateChannel": "string", "duetProject": "string",
    "pluginType": enum(CC + "ClientMetadata.PluginType", "PLUGIN_UNSPECIFIED", "CLOUD_CODE", "GEMINI"),
    "ideName": "string",
})
LOAD_CODE_ASSIST = Message(CC + "LoadCodeAssistRequest", {
    "cloudaicompanionProject": "string", "metadata": CLIENT_METADATA, "mode": "int32",
})
ONBOARD_USER = Message(CC + "OnboardUserRequest", {
    "tierId": "string", "cloudaicompanionProject": "string", "metadata": CLIENT_METADATA,
})
FETCH_AVAILABLE_MODELS = Message(CC + "FetchAvailableModelsRequest", {"project": "string"})
RETRIEVE_QUOTA_SUMMARY = Message(CC + "RetrieveUserQuotaSummaryRequest", {"project": "string"})

# ------------------------------------------------------------------------------------------------ walking


@dataclass
class Violation:
    field: str
    message: str


def to_camel(name: str) -> str:
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def to_snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "..."


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_SCALAR_TYPE = {"string": "TYPE_STRING", "bool": "TYPE_BOOL", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                "float": "TYPE_FLOAT", "bytes": "TYPE_BYTES"}
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int32", "int64"):
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    if kind == "float":
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
            return True
        return False
    if kind == "bytes":
        return isinstance(value, str) and _is_base64(value)
    if kind == "struct":
        return isinstance(value, dict)
    return True  # "value"


def _is_base64(text: str) -> bool:
    if not _BASE64.match(text):
        return False
    body = text.rstrip("=")
    try:
        base64.urlsafe_b64decode(body.replace("+", "-").replace("/", "_") + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return False
    return True


@dataclass
class Walker:
    schema_whitelist: bool = True
    violations: list[Violation] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.violations.append(Violation(path, message))

    def message(self, value: Any, msg: Message, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"Invalid value at '{path}' ({msg.full_name}), {_show(value)}")
            return
        if msg is SCHEMA and not self.schema_whitelist:
            return
        oneof_set: dict[str, str] = {}
        for key, item in value.items():
            camel = to_camel(key)
            spec = msg.fields.get(camel)
            if spec is None:
                self.fail(path, f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': "
                                "Cannot find field.")
                continue
            if item is None:
                continue
            if (group := msg.oneofs.get(camel)) is not None:
                if group in oneof_set and oneof_set[group] != camel:
                    self.fail(path, f"Invalid JSON payload received. Oneof field '{group}' is already set. "
                                    f"Cannot set '{key}'")
                    continue
                oneof_set[group] = camel
            self.field(item, spec, _join(path, to_snake(camel)), key, path)

    def field(self, value: Any, spec: Any, path: str, key: str, parent: str) -> None:
        if isinstance(spec, tuple) and spec[0] == "repeated":
            if not isinstance(value, list):
                self.fail(path, f"Invalid value at '{path}' ({_type_name(spec[1])}), {_show(value)}")
                return
            for i, item in enumerate(value):
                if item is not None:
                    self.field(item, spec[1], f"{path}[{i}]", key, parent)
            return
        if isinstance(value, list):
            self.fail(parent, f"Invalid JSON payload received. Unknown name \"{key}\" at '{parent}': "
                              "Proto field is not repeating, cannot start list.")
            return
        if isinstance(spec, tuple) and spec[0] == "map":
            if not isinstance(value, dict):
                self.fail(path, f"Invalid value at '{path}' ({_type_name(spec[1])}), {_show(value)}")
                return
            for i, item in enumerate(value.values()):
                if item is not None:
                    self.field(item, spec[1], f"{path}[{i}].value", "value", f"{path}[{i}]")
            return
        if isinstance(spec, Message):
            self.message(value, spec, path)
        elif isinstance(spec, Enum):
            if not spec.accepts(value):
                self.fail(path, f"Invalid value at '{path}' ({spec.full_name}), {_show(value)}")
        elif not _scalar_ok(spec, value):
            name = "type.googleapis.com/google.protobuf.Struct" if spec == "struct" else _SCALAR_TYPE.get(spec, spec)
            self.fail(path, f"Invalid value at '{path}' ({name}), {_show(value)}")


def _type_name(spec: Any) -> str:
    if isinstance(spec, Message | Enum):
        return spec.full_name
    return _SCALAR_TYPE.get(spec, "type.googleapis.com/google.protobuf.Value")


def check(value: Any, msg: Message, *, schema_whitelist: bool = True) -> list[Violation]:
    """All violations of ``value`` against ``msg``; the top-level path is '' (as in ``Unknown name "model" at ''``)."""
    walker = Walker(schema_whitelist=schema_whitelist)
    walker.message(value, msg, "")
    return walker.violations


def get(obj: Any, camel: str, default: Any = None) -> Any:
    """Read a field by either spelling (proto3 JSON accepts both)."""
    if not isinstance(obj, dict):
        return default
    if camel in obj and obj[camel] is not None:
        return obj[camel]
    snake = to_snake(camel)
    if snake in obj and obj[snake] is not None:
        return obj[snake]
    return default
