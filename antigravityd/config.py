"""Settings: one TOML file plus environment overrides, validated once at start into frozen dataclasses.

Every setting is declared exactly once, here, as a dataclass field made with :func:`setting`. The loader
(``config_loading.py``), the ``config get/set/show`` commands and the documentation all walk those declarations,
so a key cannot exist in one place and be missing in another (the seed had configuration keys that nothing read).

A bad value stops the daemon with one line naming the key, the value and what is allowed
(:class:`ConfigError`). The rest of the code receives the section it needs, never the whole mapping.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "Check", "Config", "ConfigError", "setting"]

Check = Callable[[Any], str | None]
"""A validator returns None when the value is acceptable, else a short description of what is allowed."""


class ConfigError(ValueError):
    """A setting has a value we cannot use. ``str()`` is the one line an operator needs."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid setting {key} = {value!r}: expected {allowed}")


def setting(
    default: Any,
    *,
    doc: str,
    env: str | None = None,
    check: Check | None = None,
    secret: bool = False,
) -> Any:
    """Declare one setting: its default, its documentation, an optional env override and validator."""
    meta = {"doc": doc, "env": env, "check": check, "secret": secret}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------------------------------------------- checks


def between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"a number from {lo} to {hi}"


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else "one of " + ", ".join(choices)


def _host(v: str) -> str | None:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        if v == "localhost":
            return None
        return "an IPv4 or IPv6 address such as 127.0.0.1, ::1, 0.0.0.0 or ::"
    return None


def _url_or_empty(v: str) -> str | None:
    return None if v == "" or v.startswith(("http://", "https://")) else "an http:// or https:// URL"


def _urls(v: list[str]) -> str | None:
    if not v:
        return "at least one http:// or https:// URL"
    bad = [u for u in v if not u.startswith(("http://", "https://"))]
    return None if not bad else "a list of http:// or https:// URLs"


def _networks(v: list[str]) -> str | None:
    try:
        for item in v:
            ipaddress.ip_network(item, strict=False)
    except ValueError:
        return "a list of IP addresses or CIDR ranges"
    return None


def _db_url(v: str) -> str | None:
    return None if v == "" or v.startswith(("postgres://", "postgresql://")) else "a postgresql:// URL or empty"


# ---------------------------------------------------------------------------------------------------- sections

DEFAULT_UPSTREAMS = [
    "https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal",
    "https://daily-cloudcode-pa.googleapis.com/v1internal",
    "https://cloudcode-pa.googleapis.com/v1internal",
]

DEFAULT_MONITORED_MODELS = ["claude-sonnet-4-6", "claude-opus-4-6-thinking", "gemini-3-flash", "gemini-3.1-pro-high"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    bind: str = setting("127.0.0.1", env="ANTIGRAVITY_BIND", check=_host,
                        doc="Address to listen on when systemd does not pass a socket (IPv4 or IPv6).")
    port: int = setting(8045, env="ANTIGRAVITY_PORT", check=between(1, 65535), doc="TCP port to listen on.")
    backlog: int = setting(4096, check=between(16, 65535), doc="Listen backlog when we bind the socket ourselves.")
    max_connections: int = setting(4096, check=between(1, 1_000_000),
                                   doc="Connections served at once; further ones wait in the kernel backlog.")
    max_header_bytes: int = setting(65536, check=between(1024, 16 * 1024 * 1024),
                                    doc="Largest request line plus headers; more gets 431.")
    max_body_bytes: int = setting(100 * 1024 * 1024, check=between(1024, 2**40),
                                  doc="Largest request body; more gets 413.")
    header_timeout: float = setting(10.0, check=between(0.1, 3600),
                                    doc="Seconds a client may take to send the request line and headers (408).")
    body_timeout: float = setting(60.0, check=between(0.1, 3600),
                                  doc="Seconds a request body may stall between two reads (408).")
    keepalive_timeout: float = setting(75.0, check=between(0.1, 3600),
                                       doc="Seconds an idle keep-alive connection is kept open.")
    send_timeout: float = setting(60.0, check=between(0.1, 3600),
                                  doc="Seconds a write to a client may block (a client that stopped reading).")
    drain_timeout: float = setting(30.0, check=between(0.1, 3600),
                                   doc="Hard deadline after SIGTERM: streams still running are cut then.")
    drain_idle_grace: float = setting(1.0, check=between(0.0, 60),
                                      doc="After SIGTERM, idle keep-alive connections may still send one request "
                                          "(answered with Connection: close) for this long.")
    static_dir: str = setting("", env="ANTIGRAVITY_STATIC_DIR",
                              doc="Directory of the web UI; empty means the files shipped in the package.")
    access_log: bool = setting(True, doc="Log one metadata line per request (never bodies or query strings).")
    cors_origins: list[str] = setting([], doc="Browser origins allowed to call the API (CORS).")


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = setting("info", env="ANTIGRAVITY_LOG_LEVEL", check=one_of("debug", "info", "warning", "error"),
                         doc="Log level.")
    format: str = setting("auto", check=one_of("auto", "plain", "journal"),
                          doc="auto = journal fields when JOURNAL_STREAM is set, plain lines on stderr otherwise.")


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    auth_mode: str = setting("auto", check=one_of("off", "strict", "all_except_health", "auto"),
                             doc="Client auth on the proxy routes. auto = required unless bound to loopback.")
    api_key: str = setting("", secret=True,
                           doc="Key for clients and the admin API. Empty: generated on first start "
                               "and kept in <data_dir>/api.key.")
    api_key_file: str = setting("", doc="Read the API key from this file (e.g. a systemd credential).")
    token_key_file: str = setting("", doc="Key file for encrypting OAuth tokens at rest; "
                                          "empty = <data_dir>/token.key, generated on first start.")
    expose_account_email: bool = setting(False, doc="Send X-Account-Email on proxied responses.")
    trusted_proxies: list[str] = setting([], check=_networks,
                                         doc="Reverse proxies (IPs or CIDR ranges) whose X-Forwarded-For names the "
                                             "real client, for the admin brute-force guard.")


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = setting("", env="DATABASE_URL", check=_db_url, secret=True,
                       doc="PostgreSQL URL. Empty = embedded SQLite in the data directory.")
    replica_url: str = setting("", check=_db_url, secret=True,
                               doc="Optional read replica for lag-tolerant reads (monitor, stats, events).")
    pool_min: int = setting(1, check=between(0, 100), doc="PostgreSQL connections kept open.")
    pool_max: int = setting(10, check=between(1, 200), doc="PostgreSQL connections at most.")
    statement_timeout: float = setting(10.0, check=between(0.1, 600), doc="Seconds before a query is cancelled.")
    request_log_retention_days: int = setting(30, check=between(1, 3650),
                                              doc="Days request metadata is kept.")
    request_log_queue: int = setting(50_000, check=between(100, 10_000_000),
                                     doc="Request-log rows held in memory while the database is away.")
    request_log_flush_interval: float = setting(1.0, check=between(0.05, 60),
                                                doc="Seconds between request-log batch writes.")


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_urls: list[str] = setting(DEFAULT_UPSTREAMS, env="ANTIGRAVITY_UPSTREAM_URL", check=_urls,
                                   doc="Cloud Code v1internal bases, tried in order.")
    client_version: str = setting("1.115.0", doc="Antigravity client version advertised upstream.")
    user_agent: str = setting("", doc="User-Agent upstream; empty = antigravity/<client_version> linux/amd64.")
    default_project: str = setting("bamboo-precept-lgxtn",
                                   doc="Project id used when loadCodeAssist gives none (never cached as real).")
    connect_timeout: float = setting(10.0, check=between(0.1, 600), doc="Seconds to connect upstream.")
    read_timeout: float = setting(300.0, check=between(0.1, 3600), doc="Seconds between two upstream reads.")
    total_timeout: float = setting(900.0, check=between(1, 86400), doc="Seconds one upstream call may take in all.")
    first_byte_timeout: float = setting(90.0, check=between(0.1, 3600),
                                        doc="Seconds to wait for the first real chunk before trying another account.")
    max_connections: int = setting(1024, check=between(1, 100_000), doc="Upstream connection pool size.")
    max_attempts: int = setting(8, check=between(1, 64), doc="Accounts tried for one request at most.")
    proxy_from_env: bool = setting(False, doc="Reach Google through HTTPS_PROXY / HTTP_PROXY (NO_PROXY honoured), "
                                   "with httpx's own transport instead of ours.")


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    client_id: str = setting("1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
                             doc="Google OAuth client id (public).")
    client_secret: str = setting("", secret=True, doc="Google OAuth client secret. No default, by design.")
    client_secret_file: str = setting("", doc="Read the client secret from this file (systemd credential).")
    auth_url: str = setting("https://accounts.google.com/o/oauth2/v2/auth", check=_url_or_empty,
                            doc="Authorization endpoint.")
    token_url: str = setting("https://oauth2.googleapis.com/token", check=_url_or_empty, doc="Token endpoint.")
    userinfo_url: str = setting("https://www.googleapis.com/oauth2/v2/userinfo", check=_url_or_empty,
                                doc="Userinfo endpoint.")
    redirect_base: str = setting("", env="ANTIGRAVITY_OAUTH_HOST", check=_url_or_empty,
                                 doc="Public base URL for the OAuth callback; empty = this daemon's address.")


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    max_concurrent_per_account: int = setting(5, check=between(1, 1000), doc="Requests in flight per account.")
    session_affinity: bool = setting(True, doc="Keep a conversation on one account while it stays eligible.")
    aimd_max_usage_ratio: float = setting(1.2, check=between(0.1, 100),
                                          doc="Skip an account whose learned requests-per-minute use exceeds this.")
    max_wait_for_lockout: float = setting(2.0, check=between(0, 60),
                                          doc="When every account is locked, wait this long at most for one.")
    max_wait_for_capacity: float = setting(60.0, check=between(0, 3600),
                                           doc="When every usable account is at its concurrency cap, a request "
                                               "waits this long at most for a free slot (then 429).")
    fixed_account: str = setting("", doc="Email of an account every request goes to (fixed-account mode).")
    circuit_failure_threshold: int = setting(5, check=between(1, 1000), doc="Failures that open a circuit.")
    circuit_open_seconds: float = setting(60.0, check=between(1, 86400), doc="Seconds a circuit stays open.")
    circuit_success_threshold: int = setting(2, check=between(1, 100), doc="Probe successes that close it.")


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    refresh_interval: float = setting(900.0, check=between(60, 86400), doc="Seconds between quota refreshes.")
    protection_enabled: bool = setting(True, doc="Stop using a model on an account below the threshold.")
    protection_threshold: int = setting(10, check=between(0, 99), doc="Remaining percent that protects a model.")
    monitored_models: list[str] = setting(DEFAULT_MONITORED_MODELS, doc="Models quota protection watches.")
    auto_restore: bool = setting(True, doc="Unprotect a model once its quota is above the threshold again.")


@dataclass(frozen=True, slots=True)
class WarmupConfig:
    enabled: bool = setting(False, doc="Send one tiny request to each model at 100 % so its reset window starts.")
    models: list[str] = setting(DEFAULT_MONITORED_MODELS, doc="Models to warm up.")
    cooldown: float = setting(14400.0, check=between(60, 7 * 86400),
                              doc="Seconds before the same account and model is warmed again.")


@dataclass(frozen=True, slots=True)
class ClientsConfig:
    background_model: str = setting("", doc="Route Claude Code background tasks (titles, summaries) to this "
                                            "model; empty = off.")
    tool_loop_recovery: bool = setting(True, doc="Close broken tool_use/tool_result loops in Anthropic history.")


@dataclass(frozen=True, slots=True)
class SyncConfig:
    remote: str = setting("", env="ANTIGRAVITY_SYNC_REMOTE", check=_url_or_empty,
                          doc="Another instance to exchange model mappings with (LWW); empty = off.")
    interval: float = setting(60.0, check=between(5, 86400), doc="Seconds between sync rounds.")
    tombstone_ttl: float = setting(30 * 86400.0, check=between(3600, 3650 * 86400),
                                   doc="Seconds a deleted mapping's tombstone is kept (it must outlive the longest "
                                       "time an instance may stay out of sync).")


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: str = setting("", env="ANTIGRAVITY_DATA_DIR",
                            doc="State directory (SQLite database, keys). Empty = $STATE_DIRECTORY under systemd, "
                                "else ~/.local/share/antigravityd.")
    server: ServerConfig = dataclasses.field(default_factory=ServerConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    security: SecurityConfig = dataclasses.field(default_factory=SecurityConfig)
    database: DatabaseConfig = dataclasses.field(default_factory=DatabaseConfig)
    upstream: UpstreamConfig = dataclasses.field(default_factory=UpstreamConfig)
    oauth: OAuthConfig = dataclasses.field(default_factory=OAuthConfig)
    routing: RoutingConfig = dataclasses.field(default_factory=RoutingConfig)
    quota: QuotaConfig = dataclasses.field(default_factory=QuotaConfig)
    warmup: WarmupConfig = dataclasses.field(default_factory=WarmupConfig)
    clients: ClientsConfig = dataclasses.field(default_factory=ClientsConfig)
    sync: SyncConfig = dataclasses.field(default_factory=SyncConfig)

    # Derived values live here, computed from the settings above; they are not settings themselves.

    @property
    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        if state := os.environ.get("STATE_DIRECTORY"):
            return Path(state.split(":")[0])
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "antigravityd"

    @property
    def upstream_user_agent(self) -> str:
        return self.upstream.user_agent or f"antigravity/{self.upstream.client_version} linux/amd64"

    @property
    def auth_required(self) -> bool:
        """Whether proxy routes need a client key: ``auto`` requires one unless we only listen on loopback."""
        mode = self.security.auth_mode
        if mode == "auto":
            return not _is_loopback(self.server.bind)
        return mode != "off"


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if dataclasses.is_dataclass(typing.get_type_hints(Config)[f.name])
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
