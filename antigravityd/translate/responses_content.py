"""Responses API content parts (``input_text``, ``input_image``, ``input_file``, ``input_audio`` …) → upstream parts.

Images and files come inline (base64 or ``data:`` URLs) or as http(s) URLs (``fileData``); uploaded-file ids need
storage we do not have, and anything that is not http(s) — a local path, ``file://`` — is refused: the daemon
never reads files on behalf of a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from antigravityd.translate.errors import ClientError

__all__ = ["call_output", "message_parts"]


def message_parts(content: object, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise ClientError(f"{param} must be a string or an array of content parts", param=param)
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(block, dict):
            raise ClientError(f"{where} must be an object", param=where)
        kind = block.get("type")
        if kind in ("input_text", "output_text", "text", "refusal", "summary_text"):
            value = block.get("text", block.get("refusal"))
            if not isinstance(value, str):
                raise ClientError(f"{where}.text must be a string", param=f"{where}.text")
            if value.strip():
                parts.append({"text": value})
        elif kind == "input_image":
            parts.append(_image(block, where))
        elif kind == "input_file":
            parts.append(_file(block, where))
        elif kind == "input_audio":
            audio = block.get("input_audio") or {}
            data = audio.get("data") if isinstance(audio, dict) else None
            if not isinstance(data, str) or not data:
                raise ClientError(f"{where}.input_audio.data must be base64", param=f"{where}.input_audio")
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}", "data": data}})
        else:
            raise ClientError(f"{where}.type {kind!r} is not supported", param=f"{where}.type")
    return parts


def _data_url(url: str, where: str) -> dict[str, Any]:
    head, _, data = url.partition(",")
    if not data or ";base64" not in head:
        raise ClientError(f"{where}: data URLs must be base64 encoded", param=where)
    return {"inlineData": {"mimeType": head[5:].split(";")[0] or "application/octet-stream", "data": data}}


def _remote(url: str, where: str, mime: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ClientError(f"{where} must be an http(s) or data: URL", param=where)
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    url = block.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    if block.get("file_id") is not None and not url:
        raise ClientError(f"{where}.file_id: uploaded files are not supported; send the image inline",
                          param=f"{where}.file_id")
    if not isinstance(url, str) or not url:
        raise ClientError(f"{where}.image_url must be a URL", param=f"{where}.image_url")
    if url.startswith("data:"):
        return _data_url(url, f"{where}.image_url")
    lowered = urlsplit(url).path.lower()
    mime = next((m for ext, m in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif"))
                 if lowered.endswith(ext)), "image/jpeg")
    return _remote(url, f"{where}.image_url", mime)


def _file(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = block.get("file_data")
    if isinstance(data, str) and data:
        if data.startswith("data:"):
            return _data_url(data, f"{where}.file_data")
        filename = str(block.get("filename") or "")
        mime = "application/pdf" if filename.lower().endswith(".pdf") or not filename else "text/plain"
        return {"inlineData": {"mimeType": mime, "data": data}}
    url = block.get("file_url")
    if isinstance(url, str) and url:
        return _remote(url, f"{where}.file_url", "application/pdf")
    raise ClientError(f"{where}: only inline file_data or an http(s) file_url is supported", param=where)


def call_output(output: object, param: str) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(output, str):
        return output or "(empty)", []
    if isinstance(output, list):
        texts: list[str] = []
        media: list[dict[str, Any]] = []
        for part in message_parts(output, param):
            if "text" in part:
                texts.append(part["text"])
            else:
                media.append(part)
        return "\n".join(texts) or "(empty)", media
    if output is None:
        return "(empty)", []
    raise ClientError(f"{param} must be a string or an array of content parts", param=param)
