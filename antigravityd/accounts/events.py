"""Writes what the routing pool decided (lockouts, disabled accounts, protected models) to the store.

The pool decides synchronously on the request path; persisting takes a database round trip, so decisions are
queued here (bounded; an overflow is counted, never blocks a request) and written by a supervised task. The
store writes the matching ``account_events`` row in the same transaction as each change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from antigravityd.routing.pool import AccountPool
from antigravityd.routing.state import EventKind, PoolEvent
from antigravityd.store import NotFound, Repository, StoreUnavailable

__all__ = ["PoolEventWriter"]

log = logging.getLogger("antigravityd.accounts")

QUEUE_SIZE = 10_000


class PoolEventWriter:
    def __init__(self, repo: Repository, pool: AccountPool, *, on_drop: Callable[[], None] = lambda: None) -> None:
        self.repo = repo
        self.pool = pool
        self.on_drop = on_drop
        self._send, self._receive = trio.open_memory_channel[PoolEvent](QUEUE_SIZE)

    def __call__(self, events: list[PoolEvent]) -> None:
        for event in events:
            level = logging.WARNING if event.kind is not EventKind.LOCKOUT else logging.INFO
            log.log(level, "%s %s%s: %s", event.kind.value, event.email,
                    f" ({event.model})" if event.model else "", event.reason,
                    extra={"ACCOUNT": event.email, "MODEL": event.model or "", "EVENT": event.kind.value})
            try:
                self._send.send_nowait(event)
            except trio.WouldBlock:
                self.on_drop()

    async def run(self) -> None:
        async for event in self._receive:
            while True:
                try:
                    await self._write(event)
                    break
                except StoreUnavailable:
                    await trio.sleep(1.0)  # the database is away: hold the event until it is back
                except NotFound:
                    break  # the account was deleted meanwhile

    async def _write(self, event: PoolEvent) -> None:
        k = EventKind
        if event.kind is k.LOCKOUT:
            retry_after = max(0.0, event.until - time.time()) if event.until is not None else None
            await self.repo.record_rate_limit(event.account_id, model=event.model, reason=event.reason,
                                              retry_after=retry_after)
        elif event.kind is k.ACCOUNT_DISABLED:
            await self.repo.set_disabled(event.account_id, event.reason)
        elif event.kind is k.ACCOUNT_PROXY_DISABLED:
            if "verif" in event.reason.lower():
                await self.repo.mark_verification_required(event.account_id, detail_url=event.detail or None)
            else:
                await self.repo.set_proxy_disabled(event.account_id, True, event.reason)
        elif event.kind in (k.MODEL_PROTECTED, k.MODEL_UNPROTECTED):
            state = self.pool.get(event.account_id)
            if state is not None:
                await self.repo.set_protected_models(event.account_id, sorted(state.quota.protected))
        # Circuit transitions are runtime state: logged above, visible in /api/resilience/circuits.
