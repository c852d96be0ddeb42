"""The web UI's files: ``/`` and ``/ui/*``, from the package (``antigravityd/admin/static``) or ``server.static_dir``.

* Paths are percent-decoded, then every segment is checked: no ``..``, no hidden files, no backslashes or NULs —
  a request can only name a file *under* the directory. Symlinks an operator placed in their own directory are
  followed (a Nix store path or a symlink farm is a legitimate layout).
* ``/ui/<route>`` without a file extension falls back to ``index.html``, so the single-page app's routes survive
  a reload; a missing *file* (``/ui/app.jss``) is a 404.
* Strong ETags (a hash of the content) with ``If-None-Match`` → 304, and ``Cache-Control: no-cache`` so a browser
  revalidates after an upgrade (there is no build step that could put hashes in file names).
* Files are read in a worker thread and cached by (mtime, size); the cache is bounded.
* A strict Content-Security-Policy: the UI loads nothing from anywhere else (the machine may be offline, and a CDN
  is a supply-chain risk for a page that holds the admin key).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import trio

from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router

__all__ = ["PACKAGE_STATIC_DIR", "StaticFiles", "register"]

PACKAGE_STATIC_DIR = Path(__file__).with_name("static")
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_CACHED_BYTES = 16 * 1024 * 1024

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
SECURITY_HEADERS = [
    ("content-security-policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                "form-action 'self'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
]


@dataclass(frozen=True, slots=True)
class _Cached:
    signature: tuple[int, int]  # (mtime_ns, size)
    body: bytes
    etag: str


class StaticFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: OrderedDict[Path, _Cached] = OrderedDict()
        self._cached_bytes = 0

    def locate(self, relative: str) -> Path | None:
        """The file a URL path names under the root, or None when it may not name one."""
        text = unquote(relative)
        if "\\" in text or "\x00" in text:
            return None
        parts = [p for p in text.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        return self.root.joinpath(*parts) if parts else None

    async def load(self, path: Path) -> _Cached | None:
        def stat() -> tuple[int, int] | None:
            try:
                st = path.stat()
            except OSError:
                return None
            if not path.is_file() or st.st_size > MAX_FILE_BYTES:
                return None
            return st.st_mtime_ns, st.st_size

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except OSError:
                return None

        signature = await trio.to_thread.run_sync(stat)
        if signature is None:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached.signature == signature:
            self._cache.move_to_end(path)
            return cached
        body = await trio.to_thread.run_sync(read)
        if body is None:
            return None
        entry = _Cached(signature, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._remember(path, entry)
        return entry

    def _remember(self, path: Path, entry: _Cached) -> None:
        old = self._cache.pop(path, None)
        if old is not None:
            self._cached_bytes -= len(old.body)
        self._cache[path] = entry
        self._cached_bytes += len(entry.body)
        while self._cached_bytes > MAX_CACHED_BYTES and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped.body)

    async def respond(self, request: Request, relative: str, *, spa_fallback: bool) -> Response:
        path = self.locate(relative)
        entry = await self.load(path) if path is not None else None
        if entry is None and spa_fallback and path is not None and "." not in path.name:
            path = self.root / "index.html"
            entry = await self.load(path)
        if entry is None or path is None:
            return json_response({"error": {"message": f"no file {request.path}", "type": "not_found",
                                            "code": 404}}, status=404)
        headers = [("etag", entry.etag), ("cache-control", "no-cache"), *SECURITY_HEADERS]
        if entry.etag in _etags(request.headers.get("if-none-match")):
            return Response(304, b"", content_type=None, headers=headers)
        content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or \
            "application/octet-stream"
        return Response(200, entry.body, content_type=content_type, headers=headers)


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def register(router: Router, static_dir: str | Path | None = None) -> StaticFiles:
    """Serve the UI from ``static_dir`` (``server.static_dir``), or the files shipped in the package."""
    files = StaticFiles(Path(static_dir) if static_dir else PACKAGE_STATIC_DIR)

    async def index(request: Request) -> Response:
        return await files.respond(request, "index.html", spa_fallback=False)

    async def ui(request: Request) -> Response:
        return await files.respond(request, request.route_params.get("path", ""), spa_fallback=True)

    async def ui_root(request: Request) -> Response:
        return await files.respond(request, "index.html", spa_fallback=False)

    router.get("/", index, watch_client=False)
    router.get("/ui/", ui_root, watch_client=False)
    router.get("/ui/{path:path}", ui, watch_client=False)
    return files
