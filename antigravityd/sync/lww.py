"""Last-writer-wins model-mapping sync with another instance that does not share our database (a laptop and a
VPS, say). Instances sharing one PostgreSQL need none of this: they read the same rows.

Every ``interval`` seconds (the first round at once), when ``sync.remote`` is set:

1. ``GET {remote}/api/config/mapping`` with our API key — every entry, tombstones included;
2. LWW-merge them into the store (``Repository.merge_mappings``: the later ``updated_at`` wins, ties broken by a
   total order, so both sides pick the same winner whatever order rounds run in);
3. ``POST {remote}/api/config/mapping`` the local entries the remote lacks or holds older versions of.

After a round both sides hold the same winners, deletes included. The pull is deliberately the full table, not
"changed since my last pull": an entry that reaches the remote from a third instance keeps its (older) timestamp,
so a timestamp cursor would skip it forever. Mapping tables are small (the wire format caps them at 10,000).

Timestamps and tombstones live in the store, so they survive restarts and a restarted instance never claims "now"
for entries it merely kept (the seed's bugs). Tombstones are purged once they are ``tombstone_ttl`` old (default
30 days) — long enough for every instance to have had the delete; an instance that stayed away longer may bring
the deleted mapping back, which is the accepted price of bounded storage.

Failures (remote down, wrong key, bad answer) are logged and counted in :attr:`MappingSync.state`, and the next
round simply tries again; the task never crashes the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import trio

from antigravityd.store import Repository, StoreUnavailable, ValidationError
from antigravityd.sync.wire import WireError, decode, encode, outbound

__all__ = ["MappingSync", "RoundResult", "SyncState", "default_instance_id"]

log = logging.getLogger("antigravityd.sync")

TOMBSTONE_TTL = 30 * 86400.0
GC_INTERVAL = 3600.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _safe_url(url: str) -> str:
    """The remote for logs and the status page: without credentials, should someone put them in the URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class SyncError(Exception):
    """One round failed for a reason worth one log line (no traceback)."""


@dataclass(frozen=True, slots=True)
class RoundResult:
    pulled: int  # remote entries that won here and were stored
    pushed: int  # local entries sent because the remote lacked them
    rejected: int  # remote entries dropped (malformed or stamped too far in the future)
    remote_updated: int  # entries the remote reported it stored


@dataclass(slots=True)
class SyncState:
    remote: str = ""
    rounds: int = 0
    failures: int = 0
    pulled: int = 0
    pushed: int = 0
    tombstones_purged: int = 0
    last_round_at: float | None = None
    last_ok_at: float | None = None
    last_error: str = ""


class MappingSync:
    """The supervised sync task. ``run`` also purges old tombstones when no remote is configured (this instance
    may be someone else's remote)."""

    def __init__(self, repo: Repository, *, remote: str, api_key: str, interval: float = 60.0,
                 instance_id: str | None = None, tombstone_ttl: float = TOMBSTONE_TTL, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.repo = repo
        self.remote = remote.rstrip("/")
        self.api_key = api_key
        self.interval = interval
        self.instance_id = instance_id or default_instance_id()
        self.tombstone_ttl = tombstone_ttl
        self.timeout = timeout
        self.clock = clock
        self.transport = transport
        self.state = SyncState(remote=_safe_url(self.remote) if self.remote else "")
        self._next_gc = 0.0
        self.round_done = trio.Event()  # set after every round; tests wait on it instead of sleeping

    def status(self) -> dict[str, Any]:
        return {"sync": {"enabled": bool(self.remote), "interval": self.interval, **asdict(self.state)}}

    async def run(self) -> None:
        async with AsyncExitStack() as stack:
            # No client without a remote: httpx's default transport loads the CA bundle and httpcore (2.9 MB measured).
            http = await stack.enter_async_context(httpx.AsyncClient(
                timeout=self.timeout, transport=self.transport, follow_redirects=False)) if self.remote else None
            while True:
                if http is not None:
                    await self._round_logged(http)
                await self._maybe_collect_garbage()
                done, self.round_done = self.round_done, trio.Event()
                done.set()
                await trio.sleep(self.interval)

    async def _round_logged(self, http: httpx.AsyncClient) -> None:
        self.state.rounds += 1
        self.state.last_round_at = self.clock()
        try:
            result = await self.sync_once(http)
        except (SyncError, StoreUnavailable) as e:
            self.state.failures += 1
            self.state.last_error = str(e)
            log.warning("mapping sync with %s failed: %s", self.state.remote, e)
            return
        self.state.last_ok_at = self.clock()
        self.state.last_error = ""
        self.state.pulled += result.pulled
        self.state.pushed += result.pushed
        if result.pulled or result.pushed or result.rejected:
            log.info("mapping sync with %s: %d pulled, %d pushed, %d rejected", self.state.remote, result.pulled,
                     result.pushed, result.rejected)

    async def sync_once(self, http: httpx.AsyncClient) -> RoundResult:
        """One pull-merge-push round. Raises SyncError with a one-line reason."""
        document = await self._call(http, "GET", None)
        try:
            theirs, rejected, remote_id = decode(document, now_ms=int(self.clock() * 1000))
        except WireError as e:
            raise SyncError(f"the remote's mapping document is unusable: {e}") from None
        if remote_id and remote_id == self.instance_id:
            raise SyncError("sync.remote points at this instance itself")
        try:
            applied = await self.repo.merge_mappings(theirs)
        except ValidationError as e:  # decode() already dropped what the store would refuse; defence in depth
            raise SyncError(f"the remote sent entries the store refuses: {e}") from None
        mine = await self.repo.mappings(include_deleted=True)
        push = outbound(mine, theirs)
        remote_updated = 0
        if push:
            answer = await self._call(http, "POST", {"mapping": encode(push, self.instance_id)})
            count = answer.get("updated_count") if isinstance(answer, dict) else None
            remote_updated = count if isinstance(count, int) else 0
        return RoundResult(pulled=len(applied), pushed=len(push), rejected=rejected, remote_updated=remote_updated)

    async def _call(self, http: httpx.AsyncClient, method: str, body: dict[str, Any] | None) -> Any:
        url = f"{self.remote}/api/config/mapping"
        headers = {"authorization": f"Bearer {self.api_key}", "user-agent": f"antigravityd-sync/{self.instance_id}"}
        try:
            async with http.stream(method, url, json=body, headers=headers) as response:
                if response.status_code in (401, 403):
                    raise SyncError(f"{method} {_safe_url(url)}: {response.status_code}, the remote refused our API "
                                    "key (both instances must share it)")
                if response.status_code != 200:
                    raise SyncError(f"{method} {_safe_url(url)}: HTTP {response.status_code}")
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > MAX_RESPONSE_BYTES:
                        raise SyncError(f"{method} {_safe_url(url)}: answer larger than {MAX_RESPONSE_BYTES} bytes")
        except httpx.HTTPError as e:
            raise SyncError(f"{method} {_safe_url(url)}: {type(e).__name__}: {e}") from None
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise SyncError(f"{method} {_safe_url(url)}: the answer is not JSON") from None

    async def _maybe_collect_garbage(self) -> None:
        now = self.clock()
        if now < self._next_gc:
            return
        self._next_gc = now + GC_INTERVAL
        try:
            purged = await self.collect_garbage()
        except StoreUnavailable:
            self._next_gc = now  # try again next round
            return
        if purged:
            log.info("purged %d mapping tombstones older than %.0f days", purged, self.tombstone_ttl / 86400)

    async def collect_garbage(self) -> int:
        cutoff = int((self.clock() - self.tombstone_ttl) * 1000)
        purged = await self.repo.purge_mapping_tombstones(cutoff)
        self.state.tombstones_purged += purged
        return purged
