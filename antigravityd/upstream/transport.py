"""Settings of the upstream HTTP layer, the shared httpx client, and the per-base health memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .h11transport import H11Transport
from .sse import MAX_LINE_BYTES

__all__ = ["BaseHealth", "ClientSettings", "UpstreamHTTP", "make_http_client"]


@dataclass(frozen=True, slots=True)
class ClientSettings:
    base_urls: tuple[str, ...]
    user_agent: str
    client_version: str
    connect_timeout: float = 10.0
    read_timeout: float = 300.0  # between two reads, not in total
    write_timeout: float = 30.0
    pool_timeout: float = 30.0  # waiting for a free connection
    total_timeout: float = 900.0  # one call, stream included
    max_connections: int = 1024
    max_keepalive_connections: int = 1024  # idle ones expire after keepalive_expiry anyway
    keepalive_expiry: float = 30.0
    base_cooldown: float = 30.0  # a base that failed is tried last for this long
    trust_env: bool = False  # honour HTTP(S)_PROXY / NO_PROXY from the environment
    max_error_body: int = 1 << 20  # error bodies are cut here (classification needs the beginning only)
    max_response_body: int = 64 << 20  # a larger non-stream answer is a failure (images are big, not this big)
    max_sse_line: int = MAX_LINE_BYTES

    def __post_init__(self) -> None:
        if not self.base_urls:
            raise ValueError("at least one upstream base URL is required")
        object.__setattr__(self, "base_urls", tuple(u.rstrip("/") for u in self.base_urls))

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> ClientSettings:
        """From :class:`antigravityd.config.Config` (``upstream`` section and ``upstream_user_agent``)."""
        up = config.upstream
        values = dict(
            base_urls=tuple(up.base_urls), user_agent=config.upstream_user_agent, client_version=up.client_version,
            connect_timeout=up.connect_timeout, read_timeout=up.read_timeout, total_timeout=up.total_timeout,
            max_connections=up.max_connections, max_keepalive_connections=up.max_connections,
            trust_env=up.proxy_from_env,
        )
        values.update(overrides)
        return cls(**values)


class UpstreamHTTP(httpx.AsyncClient):
    """httpx's client, plus ``direct``: our transport, for the generation hot path to call without the client's
    layers (request merging, cookies, auth and redirect hooks cost ~12 % of a proxied request's CPU, and the
    upstream needs none of them). ``direct`` is None when traffic goes through an environment proxy."""

    def __init__(self, *, direct: H11Transport | None, timeout: httpx.Timeout, **kwargs: Any) -> None:
        if direct is not None:
            kwargs["transport"] = direct
        super().__init__(timeout=timeout, follow_redirects=False, **kwargs)
        self.direct = direct
        self.direct_extensions = {"timeout": timeout.as_dict()}


def make_http_client(settings: ClientSettings, *, verify: bool | str = True) -> UpstreamHTTP:
    """The shared upstream HTTP client. ``verify`` is a CA bundle path, True (system CAs, loaded on first https
    use) or False (tests on plain-HTTP loopback).

    Requests go through :class:`H11Transport` (see its docstring for the measurement behind it); with
    ``trust_env`` they go through httpx's own transport instead, which knows HTTP(S)_PROXY."""
    timeout = httpx.Timeout(connect=settings.connect_timeout, read=settings.read_timeout,
                            write=settings.write_timeout, pool=settings.pool_timeout)
    if settings.trust_env:
        return UpstreamHTTP(
            direct=None, timeout=timeout, verify=verify, http1=True, http2=False, trust_env=True,
            limits=httpx.Limits(max_connections=settings.max_connections,
                                max_keepalive_connections=settings.max_keepalive_connections,
                                keepalive_expiry=settings.keepalive_expiry),
        )
    transport = H11Transport(verify=verify, max_connections=settings.max_connections,
                             max_keepalive_connections=settings.max_keepalive_connections,
                             keepalive_expiry=settings.keepalive_expiry)
    return UpstreamHTTP(direct=transport, timeout=timeout, trust_env=False)


class BaseHealth:
    """Which bases failed recently. Order: healthy ones as configured, then the recently failed ones."""

    def __init__(self, bases: tuple[str, ...], cooldown: float, clock: Callable[[], float]) -> None:
        self._bases = bases
        self._cooldown = cooldown
        self._clock = clock
        self._bad_until: dict[str, float] = {}

    def order(self) -> list[str]:
        now = self._clock()
        good = [b for b in self._bases if self._bad_until.get(b, 0.0) <= now]
        return good + [b for b in self._bases if b not in good]

    def failed(self, base: str) -> None:
        self._bad_until[base] = self._clock() + self._cooldown

    def succeeded(self, base: str) -> None:
        self._bad_until.pop(base, None)
