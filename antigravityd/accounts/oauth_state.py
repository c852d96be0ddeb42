"""Pending browser logins: the CSRF ``state`` of each authorization URL handed out, with its PKCE verifier.

A state is random (32 letters and digits from ``secrets``), single-use (taking it removes it), valid for
``ttl`` seconds (10 minutes) and bound to the redirect URI it was issued for. At most ``capacity`` logins are
pending; when full the *oldest* is evicted — the seed cleared every pending login at once, so one burst of
``/api/oauth/url`` calls broke everybody's login in progress.

Pure apart from the random source: time comes from an injected clock (monotonic seconds).
"""

from __future__ import annotations

import secrets
import string
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from antigravityd.upstream.oauth import pkce_pair

__all__ = ["ExpiredState", "OAuthStateStore", "PendingLogin", "StateError", "UnknownState"]

ALPHABET = string.ascii_letters + string.digits
STATE_LENGTH = 32


class StateError(Exception):
    """The ``state`` of a callback cannot be used (CSRF check failed)."""


class UnknownState(StateError):
    pass


class ExpiredState(StateError):
    pass


@dataclass(frozen=True, slots=True)
class PendingLogin:
    state: str
    redirect_uri: str
    code_verifier: str = field(repr=False)
    code_challenge: str
    created_at: float  # clock seconds
    proxy_url: str | None = field(default=None, repr=False)


def new_state() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(STATE_LENGTH))


class OAuthStateStore:
    def __init__(self, clock: Callable[[], float], *, ttl: float = 600.0, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.clock = clock
        self.ttl = ttl
        self.capacity = capacity
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, state: object) -> bool:
        return state in self._pending

    def create(self, redirect_uri: str, *, proxy_url: str | None = None) -> PendingLogin:
        now = self.clock()
        self.purge(now)
        while len(self._pending) >= self.capacity:
            self._pending.popitem(last=False)
        verifier, challenge = pkce_pair()
        login = PendingLogin(new_state(), redirect_uri, verifier, challenge, now, proxy_url)
        self._pending[login.state] = login
        return login

    def take(self, state: str) -> PendingLogin:
        """The pending login for ``state``, removed (single use). UnknownState / ExpiredState otherwise."""
        login = self._pending.pop(state, None) if isinstance(state, str) else None
        if login is None:
            raise UnknownState("unknown or already used state")
        if self.clock() - login.created_at >= self.ttl:
            raise ExpiredState(f"the login started more than {self.ttl / 60:g} minutes ago")
        return login

    def purge(self, now: float | None = None) -> int:
        """Drop expired logins (insertion order is creation order, so they are at the front)."""
        now = self.clock() if now is None else now
        dropped = 0
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if now - oldest.created_at < self.ttl:
                break
            self._pending.popitem(last=False)
            dropped += 1
        return dropped
