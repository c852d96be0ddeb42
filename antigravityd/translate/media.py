"""Images, audio and documents in client messages → upstream ``inlineData`` / ``fileData`` parts.

A URL is either a ``data:`` URL (decoded into ``inlineData``) or an ``http(s)`` URL (passed as ``fileData`` for the
upstream to fetch). Anything else — ``file://``, ``/etc/passwd``, ``C:\\…``, relative paths — is a client error:
the daemon never reads local files on a client's behalf (that would let any API user read the server's disk).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from antigravityd.translate.errors import ClientError

__all__ = ["inline_part", "media_url_part", "sniff_mime"]

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL)
_BASE64_HEAD = re.compile(r"[A-Za-z0-9+/=_-]*")
_EXTENSIONS = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf", "mp4": "video/mp4", "mov": "video/mov",
    "webm": "video/webm", "mp3": "audio/mp3", "wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac",
}
_MAGIC = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"),
          ("JVBERi0", "application/pdf"))


def sniff_mime(data: str, default: str = "image/png") -> str:
    """The media type from the first bytes of base64 data (clients often omit or misstate it)."""
    return next((mime for prefix, mime in _MAGIC if data.startswith(prefix)), default)


def inline_part(mime: object, data: object, param: str) -> dict[str, Any]:
    """An ``inlineData`` part from base64 data; checks only the cheap things (large images are not re-decoded)."""
    if not isinstance(data, str) or not data:
        raise ClientError(f"{param} must be non-empty base64 data", param=param)
    if not _BASE64_HEAD.fullmatch(data[:256].replace("\n", "").replace("\r", "")):
        raise ClientError(f"{param} is not base64 data", param=param)
    if not isinstance(mime, str) or "/" not in mime:
        mime = sniff_mime(data)
    return {"inlineData": {"mimeType": mime, "data": data}}


def media_url_part(url: object, param: str, *, default_mime: str = "image/jpeg") -> dict[str, Any]:
    """A ``data:`` URL → ``inlineData``; an ``http(s)`` URL → ``fileData``; anything else → ClientError."""
    if not isinstance(url, str) or not url.strip():
        raise ClientError(f"{param} must be a non-empty URL string", param=param)
    url = url.strip()
    if url[:5].lower() == "data:":
        m = _DATA_URL.fullmatch(url)
        if m is None or ";base64" not in m.group("params").lower():
            raise ClientError(f"{param}: data URLs must be base64-encoded (data:<type>;base64,<data>)", param=param)
        return inline_part(m.group("mime"), m.group("data"), param)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("http", "https"):
        path = urlsplit(url).path
        extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        return {"fileData": {"mimeType": _EXTENSIONS.get(extension, default_mime), "fileUri": url}}
    raise ClientError(
        f"{param} must be a data: URL or an http(s):// URL; local files and other schemes are not accepted",
        param=param,
    )
