"""Client authentication: which routes need the API key, and checking it in constant time.

The key may come as ``Authorization: Bearer <key>`` (OpenAI SDKs), ``x-api-key`` (Anthropic SDKs),
``x-goog-api-key`` (Gemini SDKs, gemini-cli) or ``?key=`` (older Gemini clients). Admin routes (``/api/*``,
``/metrics``) always need it; proxy routes follow ``security.auth_mode`` whose safe default (``auto``) requires
it whenever the daemon listens beyond loopback; health and version probes and the OAuth callback never do.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import string
from pathlib import Path

from antigravityd.http.message import Request

__all__ = ["Access", "Authenticator", "access_for_path", "generate_api_key", "load_or_create_api_key"]

PUBLIC_PATHS = frozenset({"/health", "/healthz", "/api/health", "/version", "/api/oauth/callback", "/favicon.ico"})


class Access(enum.Enum):
    PUBLIC = "public"
    ADMIN = "admin"
    PROXY = "proxy"


def access_for_path(path: str) -> Access:
    if path in PUBLIC_PATHS or path == "/" or path.startswith("/ui/"):
        return Access.PUBLIC  # the web UI's files are public; everything it shows comes from /api/* with the key
    if path.startswith("/api/") or path == "/metrics":
        return Access.ADMIN
    return Access.PROXY


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else auth.strip()
    for header in ("x-api-key", "x-goog-api-key"):
        if value := request.headers.get(header):
            return value.strip()
    if "key=" in request.query_string:
        return request.query.get("key")
    return None


class Authenticator:
    def __init__(self, api_key: str, *, proxy_auth_required: bool) -> None:
        if not api_key:
            raise ValueError("an API key is required (the daemon generates one when none is configured)")
        self._key = api_key.encode()
        self.proxy_auth_required = proxy_auth_required

    def needs_key(self, path: str) -> bool:
        access = access_for_path(path)
        return access is Access.ADMIN or (access is Access.PROXY and self.proxy_auth_required)

    def check(self, request: Request) -> bool:
        key = presented_key(request)
        return key is not None and hmac.compare_digest(key.encode(), self._key)


def generate_api_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk-ag-" + "".join(secrets.choice(alphabet) for _ in range(40))


def load_or_create_api_key(path: Path) -> tuple[str, bool]:
    """The key kept in ``path`` (mode 0600), creating it on first start. Returns (key, created)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key, False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = generate_api_key()
    tmp = path.with_suffix(".tmp")
    fd = tmp.open("w", encoding="utf-8")
    with fd:
        tmp.chmod(0o600)
        fd.write(key + "\n")
    tmp.replace(path)
    return key, True
