"""Brute-force protection for the admin API: after 5 wrong API keys from one client address, 15 minutes of 429.

The client is the TCP peer, unless the peer is one of the configured trusted reverse proxies: then the address is
taken from ``X-Forwarded-For``, walking it from the right (the hop our proxy appended) past every trusted proxy.
The seed trusted the *leftmost* ``X-Forwarded-For`` entry from anyone, so an attacker chose a fresh "address" per
guess and was never blocked; and it tracked nothing without the header.

What counts as a failure: a request to an admin path that *presents* a key, and the wrong one. A request without
any key is answered 401 by the gateway but not counted — a stale browser tab polling without a key is not a guess,
and counting it would lock out its owner. While blocked, every admin request from that client gets 429 with
``Retry-After``, the right key included (otherwise the block would still answer the guesses). A correct key
clears the client's record.

:class:`FailureTracker` is the pure bookkeeping (injected clock, bounded memory); :class:`AdminGuard` screens
each request for the gateway, before its auth check.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import trio

from antigravityd.api.admin_common import admin_error
from antigravityd.api.auth import Access, Authenticator, access_for_path, presented_key
from antigravityd.http.message import Request, Response

__all__ = ["AdminGuard", "FailureTracker", "GuardPolicy", "client_address", "parse_trusted"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    max_failures: int = 5
    block_seconds: float = 15 * 60.0
    window_seconds: float = 15 * 60.0  # failures older than this are forgotten
    max_clients: int = 10_000  # memory bound: the least recently seen client is dropped beyond it


@dataclass(slots=True)
class _Record:
    failures: int
    first: float
    blocked_until: float = 0.0


class FailureTracker:
    """Failed attempts per client key. Times are monotonic seconds passed in by the caller."""

    def __init__(self, policy: GuardPolicy | None = None) -> None:
        self.policy = policy or GuardPolicy()
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def blocked_for(self, client: str, now: float) -> float:
        """Seconds the client stays blocked; 0 when it may try."""
        record = self._records.get(client)
        if record is None:
            return 0.0
        if record.blocked_until > now:
            # (start + block) - now can exceed block by a rounding error; Retry-After would say a second more.
            return min(record.blocked_until - now, self.policy.block_seconds)
        if record.blocked_until or now - record.first >= self.policy.window_seconds:
            del self._records[client]  # a served block or an old streak: start from a clean slate
        return 0.0

    def failure(self, client: str, now: float) -> float:
        """Count a wrong key; returns the block length when this failure starts a block, else 0."""
        record = self._records.get(client)
        if record is None or now - record.first >= self.policy.window_seconds or record.blocked_until:
            record = _Record(0, now)
        record.failures += 1
        self._records[client] = record
        self._records.move_to_end(client)
        while len(self._records) > self.policy.max_clients:
            self._records.popitem(last=False)
        if record.failures >= self.policy.max_failures:
            record.blocked_until = now + self.policy.block_seconds
            return self.policy.block_seconds
        return 0.0

    def success(self, client: str) -> None:
        self._records.pop(client, None)

    def __len__(self) -> int:
        return len(self._records)


def parse_trusted(entries: Iterable[str]) -> tuple[Network, ...]:
    """Trusted proxy addresses or CIDR ranges (``127.0.0.1``, ``10.0.0.0/8``, ``::1``). Raises ValueError."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:1234"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(request: Request, trusted: tuple[Network, ...]) -> str:
    """The address to hold responsible for this request (see the module docstring)."""
    peer = _ip(request.client[0]) if request.client else None
    if peer is None:
        return request.client[0] if request.client else "unknown"

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in net for net in trusted)

    if not trusted or not is_trusted(peer):
        return str(peer)
    hops = [h for header in request.headers.get_all("x-forwarded-for") for h in header.split(",")]
    client = peer
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break  # garbage in the chain: stop at the last address we could trust
        client = address
        if not is_trusted(address):
            break
    return str(client)


class AdminGuard:
    """The gateway's first screen: ``Gateway(router, authenticator, guard=AdminGuard(authenticator, ...))``."""

    def __init__(self, auth: Authenticator, *, trusted_proxies: Iterable[str] = (), policy: GuardPolicy | None = None,
                 clock: Callable[[], float] = trio.current_time,
                 on_block: Callable[[str], None] = lambda client: None) -> None:
        self.auth = auth
        self.trusted = parse_trusted(trusted_proxies)
        self.tracker = FailureTracker(policy)
        self.clock = clock
        self.on_block = on_block

    def screen(self, request: Request) -> Response | None:
        """The 429 for a blocked client; None lets the request on (to the gateway's auth check)."""
        if request.method == "OPTIONS" or access_for_path(request.path) is not Access.ADMIN:
            return None
        client = client_address(request, self.trusted)
        now = self.clock()
        wait = self.tracker.blocked_for(client, now)
        if wait <= 0 and presented_key(request) is not None:
            if self.auth.check(request):
                self.tracker.success(client)
            elif self.tracker.failure(client, now):
                self.on_block(client)  # this attempt still gets its 401; the next ones get 429
        if wait > 0:
            request.route = "admin-guard"
            seconds = math.ceil(wait)
            return admin_error(429, f"too many wrong API keys from this address; try again in {seconds} s",
                               code="too_many_auth_failures", headers=[("retry-after", str(seconds))])
        return None
