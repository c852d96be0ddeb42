"""Where thought signatures are remembered between turns (upstream-protocol §9.2).

Most clients do not send signatures back (OpenAI clients have nowhere to put them; Claude Code drops them from
``tool_use`` blocks), yet Gemini 3 rejects a replayed function call without its signature and Claude rejects an
unsigned thinking block. So we remember every signature the upstream gives us under the keys a later request can
look it up by:

* ``tool_call`` — the tool-call id the client saw (upstream's or the one we generated);
* ``call`` — a hash of the call's name and arguments (Gemini-native clients see no ids);
* ``session`` — the conversation's session id (the latest signature, a last resort);
* ``content`` — a hash of the thinking text (a client that returns ``reasoning_content`` but not its signature).

Every entry also records the model *family* that issued it: a Gemini signature sent to Claude (or the reverse) is a
400, so lookups are family-aware, and :meth:`SignatureCache.family_of` tells whether a client-supplied signature is
foreign.

Translators only *read* the cache (the :class:`SignatureCache` protocol). They report what they saw as
:class:`SeenSignature` records; the pipeline writes those to a :class:`MemorySignatureCache` (the daemon persists
the same records in the database so a restart keeps them). Signatures are opaque model-issued tokens; the keys are
ids and hashes — no prompt or response text is stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "MIN_SIGNATURE_LENGTH",
    "SENTINEL",
    "MemorySignatureCache",
    "NullSignatureCache",
    "SeenSignature",
    "SignatureCache",
    "SignatureKind",
    "usable_signature",
]

SignatureKind = Literal["tool_call", "call", "session", "content"]
Family = Literal["gemini", "claude", "gpt-oss"]

SENTINEL = "skip_thought_signature_validator"
"""Documented by Google for synthetic histories: Gemini skips signature validation for it. Never sent to Claude."""

MIN_SIGNATURE_LENGTH = 50
"""Shorter strings are placeholders or junk (all proxies use this threshold)."""


def usable_signature(signature: object) -> bool:
    """A real signature worth keeping or sending: a string of at least 50 characters, not the sentinel."""
    return isinstance(signature, str) and len(signature) >= MIN_SIGNATURE_LENGTH and signature != SENTINEL


@dataclass(frozen=True, slots=True)
class SeenSignature:
    """One signature a translator saw in an upstream response, and the key to find it again."""

    kind: SignatureKind
    key: str
    signature: str
    family: Family


class SignatureCache(Protocol):
    """The read side translators use."""

    def get(self, kind: SignatureKind, key: str, family: str) -> str | None:
        """The signature stored under (kind, key) by a model of ``family``, if still known."""
        ...

    def family_of(self, signature: str) -> str | None:
        """The family that issued ``signature``, or None when we never saw it."""
        ...


class NullSignatureCache:
    """Knows nothing: for requests that must not use history (and for tests)."""

    def get(self, kind: SignatureKind, key: str, family: str) -> str | None:
        return None

    def family_of(self, signature: str) -> str | None:
        return None


class MemorySignatureCache:
    """A bounded LRU with a time-to-live, safe to share by all requests of one trio process.

    ``clock`` returns seconds (wall-clock time when records are persisted, so ages survive restarts); it is
    injected so tests control time. ``max_entries`` bounds both the lookup table and the family table.
    """

    def __init__(self, clock: Callable[[], float], *, max_entries: int = 20_000, ttl: float = 7 * 86400.0) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries must be ≥ 1 and ttl > 0")
        self._clock = clock
        self._max = max_entries
        self._ttl = ttl
        self._entries: OrderedDict[tuple[str, str, str], tuple[str, float]] = OrderedDict()
        self._families: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, seen: SeenSignature, stored_at: float | None = None) -> None:
        if not usable_signature(seen.signature) or not seen.key:
            return
        now = self._clock() if stored_at is None else stored_at
        self._put(self._entries, (seen.kind, seen.key, seen.family), (seen.signature, now))
        self._put(self._families, seen.signature, (seen.family, now))

    def remember_all(self, seen: Iterable[SeenSignature]) -> None:
        for record in seen:
            self.remember(record)

    def get(self, kind: SignatureKind, key: str, family: str) -> str | None:
        entry = self._fresh(self._entries, (kind, key, family))
        return entry[0] if entry else None

    def family_of(self, signature: str) -> str | None:
        entry = self._fresh(self._families, signature)
        return entry[0] if entry else None

    def snapshot(self) -> list[tuple[SeenSignature, float]]:
        """Every live entry with the time it was stored, oldest first — what the daemon persists."""
        now = self._clock()
        return [
            (SeenSignature(kind, key, signature, family), stored_at)  # type: ignore[arg-type]
            for (kind, key, family), (signature, stored_at) in self._entries.items()
            if now - stored_at < self._ttl
        ]

    def restore(self, records: Iterable[tuple[SeenSignature, float]]) -> None:
        """Load persisted entries (oldest first, so the newest end up most recently used)."""
        now = self._clock()
        for seen, stored_at in records:
            if now - stored_at < self._ttl:
                self.remember(seen, stored_at)

    def _put(self, table: OrderedDict, key: object, value: tuple[str, float]) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._max:
            table.popitem(last=False)

    def _fresh(self, table: OrderedDict, key: object) -> tuple[str, float] | None:
        entry = table.get(key)
        if entry is None:
            return None
        if self._clock() - entry[1] >= self._ttl:
            del table[key]
            return None
        table.move_to_end(key)
        return entry
