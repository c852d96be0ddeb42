"""Anthropic content blocks → upstream parts (upstream-protocol §8.3, "Content block mapping").

Pure and per-block: :func:`user_parts` and :func:`assistant_parts` turn one message's blocks into upstream parts
and report what they saw (tool ids, tool names) to the message-level translator in ``anthropic_request``.
Signatures are carried through as the client sent them (converted to the upstream form); which of them survive
is decided afterwards, for the whole history at once, by ``signatures.apply_history_signatures``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from antigravityd.translate.errors import ClientError
from antigravityd.translate.signature_cache import SignatureCache
from antigravityd.translate.signature_forms import to_upstream_form
from antigravityd.translate.tool_args import coerce_tool_args

__all__ = [
    "EMPTY_ERROR_RESULT",
    "EMPTY_RESULT",
    "MAX_TOOL_RESULT_CHARS",
    "assistant_parts",
    "image_part",
    "text_of",
    "tool_result_parts",
    "user_parts",
]

EMPTY_RESULT = "Command executed successfully."
EMPTY_ERROR_RESULT = "Tool execution failed with no output."
MAX_TOOL_RESULT_CHARS = 200_000
TRUNCATED_SUFFIX = "\n...[truncated output]"
_NO_CONTENT = "(no content)"
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif"}
_URL_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
             ".webp": "image/webp", ".pdf": "application/pdf"}
_DROPPED = frozenset({"server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
                      "code_execution_tool_result", "bash_code_execution_tool_result",
                      "text_editor_code_execution_tool_result",
                      "mcp_tool_use", "mcp_tool_result", "container_upload", "redacted_thinking"})


def _blocks(content: object, path: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return content
    if content is None:
        return []
    raise ClientError(f"{path} must be a string or an array of content blocks", param=path)


def _text_part(text: object, path: str) -> dict[str, Any] | None:
    if not isinstance(text, str):
        raise ClientError(f"{path}.text must be a string", param=f"{path}.text")
    if not text.strip() or text.strip() == _NO_CONTENT:
        return None  # Claude rejects empty text blocks; "(no content)" is a Claude Code placeholder
    return {"text": text}


def _sniff(data: str) -> str | None:
    head = data[:24]
    try:
        raw = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return None
    if raw.startswith(b"\x89PNG"):
        return "image/png"
    if raw.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if raw.startswith(b"GIF8"):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    if raw.startswith(b"%PDF"):
        return "application/pdf"
    return None


def _url_part(url: object, path: str, default_mime: str) -> dict[str, Any]:
    """``fileData`` for an http(s) URL. Anything else — a local path, ``file://`` — is refused: the daemon never
    reads files on behalf of a client."""
    if not isinstance(url, str) or not url:
        raise ClientError(f"{path}.source.url must be a non-empty string", param=f"{path}.source.url")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ClientError(f"{path}.source.url must be an http(s) URL", param=f"{path}.source.url")
    suffix = parts.path[parts.path.rfind("."):].lower() if "." in parts.path.rsplit("/", 1)[-1] else ""
    return {"fileData": {"mimeType": _URL_MIME.get(suffix, default_mime), "fileUri": url}}


def image_part(block: Mapping[str, Any], path: str) -> dict[str, Any]:
    """An ``image`` or ``document`` block with a base64 or URL source."""
    source = block.get("source")
    kind = block.get("type")
    if not isinstance(source, dict):
        raise ClientError(f"{path}.source must be an object", param=f"{path}.source")
    stype = source.get("type")
    default = "application/pdf" if kind == "document" else "image/jpeg"
    if stype == "base64":
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise ClientError(f"{path}.source.data must be a non-empty base64 string", param=f"{path}.source.data")
        mime = source.get("media_type")
        if not isinstance(mime, str) or not mime:
            mime = _sniff(data) or default
        if kind == "image" and mime not in _IMAGE_TYPES:
            raise ClientError(f"{path}.source.media_type {mime!r} is not a supported image type",
                              param=f"{path}.source.media_type")
        return {"inlineData": {"mimeType": mime, "data": data}}
    if stype == "url":
        return _url_part(source.get("url"), path, default)
    if stype == "file":
        raise ClientError(f"{path}: file sources (Files API ids) are not supported; send the data inline",
                          param=f"{path}.source")
    raise ClientError(f"{path}.source.type must be 'base64' or 'url'", param=f"{path}.source.type")


def _document_parts(block: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        part = _text_part(source.get("data", ""), f"{path}.source")
        return [part] if part else []
    if isinstance(source, dict) and source.get("type") == "content":
        return [p for i, b in enumerate(_blocks(source.get("content"), f"{path}.source.content"))
                if isinstance(b, dict) and b.get("type") == "text"
                and (p := _text_part(b.get("text"), f"{path}.source.content[{i}]"))]
    return [image_part(block, path)]


def text_of(content: object, path: str) -> tuple[str, list[dict[str, Any]]]:
    """A tool result's content as (text, media parts): text blocks joined with newlines, images as parts."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for i, block in enumerate(_blocks(content, path)):
        where = f"{path}[{i}]"
        if not isinstance(block, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = block.get("type")
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise ClientError(f"{where}.text must be a string", param=f"{where}.text")
            texts.append(block["text"])
        elif kind == "image":
            media.append(image_part(block, where))
        elif kind == "document":
            for part in _document_parts(block, where):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)
        elif kind == "search_result":
            inner, _ = text_of(block.get("content"), f"{where}.content")
            texts.append(inner)
        # other block kinds inside a tool result carry nothing the model can use upstream
    return "\n".join(texts), media


def tool_result_parts(block: Mapping[str, Any], path: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """A ``tool_result`` → one ``functionResponse`` part, then its images as ``inlineData`` parts."""
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or not tool_id:
        raise ClientError(f"{path}.tool_use_id must be a non-empty string", param=f"{path}.tool_use_id")
    is_error = block.get("is_error") is True
    text, media = text_of(block.get("content"), f"{path}.content")
    if not text.strip():
        text = EMPTY_ERROR_RESULT if is_error else EMPTY_RESULT
    elif len(text) > MAX_TOOL_RESULT_CHARS:
        text = text[: MAX_TOOL_RESULT_CHARS - len(TRUNCATED_SUFFIX)] + TRUNCATED_SUFFIX
    # Google's convention for a failed call is an "error" key; everyone reads "result" for the normal case.
    response = {"error": text} if is_error else {"result": text}
    call = {"name": names.get(tool_id, tool_id), "id": tool_id, "response": response}
    return [{"functionResponse": call}, *media]


def user_parts(content: object, path: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """A user message's blocks. Tool results come first (Anthropic requires them before other blocks)."""
    responses: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    for i, block in enumerate(_blocks(content, path)):
        where = f"{path}[{i}]"
        if not isinstance(block, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = block.get("type")
        if kind == "text":
            if (part := _text_part(block.get("text"), where)) is not None:
                texts.append(part)
        elif kind == "image":
            media.append(image_part(block, where))
        elif kind == "document":
            for part in _document_parts(block, where):
                (texts if "text" in part else media).append(part)
        elif kind == "tool_result":
            parts = tool_result_parts(block, where, names)
            responses.append(parts[0])
            media.extend(parts[1:])
        elif kind == "search_result":
            inner, _ = text_of(block.get("content"), f"{where}.content")
            if (part := _text_part(inner, where)) is not None:
                texts.append(part)
        elif kind in _DROPPED or kind in ("thinking", "tool_use"):
            continue  # not meaningful in a user turn upstream
        elif not isinstance(kind, str):
            raise ClientError(f"{where}.type must be a string", param=f"{where}.type")
        # unknown future block types are skipped rather than failing the whole conversation
    return responses + texts + media


def assistant_parts(content: object, path: str, *, target_family: str, cache: SignatureCache,
                    schemas: Mapping[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """An assistant message's blocks, thinking first (Anthropic's order). Records tool names by id in ``names``."""
    thoughts: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for i, block in enumerate(_blocks(content, path)):
        where = f"{path}[{i}]"
        if not isinstance(block, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = block.get("type")
        if kind == "text":
            if (part := _text_part(block.get("text"), where)) is not None:
                rest.append(part)
        elif kind == "thinking":
            text = block.get("thinking")
            if not isinstance(text, str):
                raise ClientError(f"{where}.thinking must be a string", param=f"{where}.thinking")
            part: dict[str, Any] = {"text": text, "thought": True}
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                part["thoughtSignature"] = to_upstream_form(signature, target_family, cache)
            thoughts.append(part)
        elif kind == "tool_use":
            rest.append(_tool_use_part(block, where, target_family, cache, schemas, names))
        elif kind in ("image", "document"):
            rest.append(image_part(block, where))
        elif kind in _DROPPED or kind == "tool_result":
            continue
        elif not isinstance(kind, str):
            raise ClientError(f"{where}.type must be a string", param=f"{where}.type")
    return thoughts + rest


def _tool_use_part(block: Mapping[str, Any], path: str, target_family: str, cache: SignatureCache,
                   schemas: Mapping[str, Any], names: dict[str, str]) -> dict[str, Any]:
    tool_id, name = block.get("id"), block.get("name")
    if not isinstance(tool_id, str) or not tool_id:
        raise ClientError(f"{path}.id must be a non-empty string", param=f"{path}.id")
    if not isinstance(name, str) or not name:
        raise ClientError(f"{path}.name must be a non-empty string", param=f"{path}.name")
    args = block.get("input")
    if isinstance(args, str):  # some clients send the raw JSON text of an interrupted stream
        try:
            args = orjson.loads(args) if args.strip() else {}
        except orjson.JSONDecodeError:
            args = {"input": args}
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ClientError(f"{path}.input must be an object", param=f"{path}.input")
    names[tool_id] = name
    if name in schemas:
        args = coerce_tool_args(args, schemas[name])
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args, "id": tool_id}}
    # Non-standard, but some gateways put the Gemini signature on the tool_use block itself (§8.4).
    signature = block.get("signature") or block.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = to_upstream_form(signature, target_family, cache)
    return part
