"""The daemon's thought-signature cache: the in-memory LRU/TTL of ``translate.signature_cache`` in front of the
store, so a restart (or another instance sharing the database) keeps what the upstream issued.

Translators are pure and read synchronously, so the store is consulted *before* translation: the API layer asks
:meth:`StoredSignatureCache.prefetch` for the keys a request can need (tool-call ids of the recent turns, hashes
of returned thinking text, the session id), which loads the misses from the store into memory. After a successful
answer the plan's ``remember`` hands over what the translator saw; the supervised :meth:`run` task writes it soon
after (when that task is not running, the API layer calls :meth:`flush` itself once the answer is out). Keys
looked up in vain are remembered for a while, so a long history with foreign tool ids costs the store one lookup
per id, not one per turn.

The store knows three kinds (``tool_call``, ``session``, ``content``); the translators' fourth, ``call`` (a hash
of a call's name and arguments, keyed ``fc-…``), is stored under ``tool_call`` — its keys cannot collide with
tool ids. Lookups are counted in ``antigravityd_signature_cache_total{kind, result}``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import trio

from antigravityd.store import Repository, StoreUnavailable
from antigravityd.translate.signature_cache import MemorySignatureCache, SeenSignature, SignatureKind

__all__ = ["StoredSignatureCache"]

log = logging.getLogger("antigravityd.signatures")

FAMILIES = ("claude", "gemini", "gpt-oss")
MAX_PREFETCH = 64  # store lookups per request at most (the oldest turns are the least likely to matter)
MAX_PENDING = 5_000  # unwritten records kept when the store is down; the oldest are dropped beyond this
FLUSH_BATCH = 500  # records per transaction
COALESCE = 0.2  # seconds the writer lets records gather: one transaction for many responses, not one each
MISS_TTL = 300.0
MAX_MISSES = 20_000
RETRY_AFTER_OUTAGE = 5.0


def _store_kind(kind: str) -> str:
    return "tool_call" if kind == "call" else kind


def _cache_kind(store_kind: str, key: str) -> SignatureKind:
    return "call" if store_kind == "tool_call" and key.startswith("fc-") else store_kind  # type: ignore[return-value]


class StoredSignatureCache:
    """The :class:`~antigravityd.translate.signature_cache.SignatureCache` the API layer hands to translators."""

    def __init__(self, repo: Repository, *, counter: Any = None, clock: Callable[[], float] = time.time,
                 max_entries: int = 20_000, ttl: float = 7 * 86400.0) -> None:
        self.repo = repo
        self.memory = MemorySignatureCache(clock, max_entries=max_entries, ttl=ttl)
        self._clock = clock
        self._counter = counter
        self._children: dict[tuple[str, str], Any] = {}
        self._misses: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._pending: list[SeenSignature] = []
        self._wake = trio.Event()
        self.writer_running = False

    # -------------------------------------------------------------------------------- read side (translators)

    def get(self, kind: SignatureKind, key: str, family: str) -> str | None:
        found = self.memory.get(kind, key, family)
        self._count(kind, "hit" if found else "miss")
        return found

    def family_of(self, signature: str) -> str | None:
        return self.memory.family_of(signature)

    def _count(self, kind: str, result: str) -> None:
        if self._counter is None:
            return
        child = self._children.get((kind, result))
        if child is None:
            child = self._children[(kind, result)] = self._counter.labels(kind, result)
        child.inc()

    # -------------------------------------------------------------------------------- store side (API layer)

    def _known(self, kind: SignatureKind, key: str) -> bool:
        return any(self.memory.get(kind, key, family) for family in FAMILIES)

    async def prefetch(self, keys: Iterable[tuple[SignatureKind, str]]) -> int:
        """Load the entries for ``keys`` that memory lacks; returns how many were found in the store."""
        now = self._clock()
        found = 0
        lookups = 0
        for kind, key in dict.fromkeys(keys):
            if not key or self._known(kind, key):
                continue
            missed = self._misses.get((kind, key))
            if missed is not None and now - missed < MISS_TTL:
                continue
            if lookups >= MAX_PREFETCH:
                break
            lookups += 1
            try:
                record = await self.repo.get_signature(_store_kind(kind), key)  # type: ignore[arg-type]
            except StoreUnavailable as e:
                log.warning("signature lookup skipped, store unavailable: %s", e)
                return found
            if record is None:
                self._miss(kind, key, now)
                continue
            found += 1
            stored_at = record.created_at.timestamp()
            self.memory.remember(SeenSignature(_cache_kind(record.kind, record.key), record.key, record.signature,
                                               record.model_family or "gemini"), stored_at)  # type: ignore[arg-type]
        return found

    def _miss(self, kind: str, key: str, now: float) -> None:
        self._misses[(kind, key)] = now
        self._misses.move_to_end((kind, key))
        while len(self._misses) > MAX_MISSES:
            self._misses.popitem(last=False)

    def remember(self, seen: Iterable[SeenSignature]) -> None:
        """What a translator saw: into memory at once, into the store at the next :meth:`flush`."""
        for record in seen:
            self.memory.remember(record)
            self._misses.pop((record.kind, record.key), None)
            self._pending.append(record)
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
        if self._pending:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """The background writer (for the daemon's supervisor): persist remembered signatures as they come, so
        no response waits for the store."""
        self.writer_running = True
        try:
            while True:
                await self._wake.wait()
                await trio.sleep(COALESCE)
                self._wake = trio.Event()
                await self.flush()
                if self._pending:  # the store is down: try again in a while
                    await trio.sleep(RETRY_AFTER_OUTAGE)
                    self._wake.set()
        finally:
            self.writer_running = False

    async def flush(self) -> None:
        """Write what was remembered since the last flush, in batches of one transaction each. A store outage
        puts the batch back for the next try."""
        while self._pending:
            batch, self._pending = self._pending[:FLUSH_BATCH], self._pending[FLUSH_BATCH:]
            rows = [(_store_kind(r.kind), r.key, r.signature, r.family) for r in batch]
            try:
                await self.repo.put_signatures(rows)  # type: ignore[arg-type]
            except StoreUnavailable as e:
                self._postpone(batch, e)
                return
            except ValueError:  # the store refused one record (oversized): write the others one by one
                for i, (kind, key, signature, family) in enumerate(rows):
                    try:
                        await self.repo.put_signature(kind, key, signature, family)  # type: ignore[arg-type]
                    except ValueError as e:
                        log.warning("signature not stored: %s", e)
                    except StoreUnavailable as e:
                        self._postpone(batch[i:], e)
                        return

    def _postpone(self, records: list[SeenSignature], reason: StoreUnavailable) -> None:
        """Put unwritten records back in front for the next try, within the memory bound."""
        log.warning("signature writes postponed, store unavailable: %s", reason)
        self._pending[:0] = records
        del self._pending[: max(0, len(self._pending) - MAX_PENDING)]
