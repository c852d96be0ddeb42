"""Retention: old request metadata and unused thought signatures are deleted on a schedule.

``run_retention`` is a long-lived task for the daemon's supervised nursery. Purging is idempotent, so several
instances sharing one PostgreSQL may all run it; a database outage only skips a round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import trio

from antigravityd.store.base import Repository
from antigravityd.store.errors import StoreUnavailable
from antigravityd.store.models import SignatureKind
from antigravityd.store.sqlrepo import utc_now

__all__ = ["DEFAULT_SIGNATURE_TTL", "PurgeResult", "purge_once", "run_retention"]

log = logging.getLogger(__name__)

# Tool-call and content signatures matter within a conversation; session ones outlive restarts of long sessions.
DEFAULT_SIGNATURE_TTL: Mapping[SignatureKind, timedelta] = {
    "tool_call": timedelta(days=7), "content": timedelta(days=7), "session": timedelta(days=30),
}


@dataclass(frozen=True, slots=True)
class PurgeResult:
    requests: int
    signatures: dict[str, int] = field(default_factory=dict)


async def purge_once(repo: Repository, *, request_days: int, now: datetime,
                     signature_ttl: Mapping[SignatureKind, timedelta] = DEFAULT_SIGNATURE_TTL) -> PurgeResult:
    requests = await repo.purge_requests(now - timedelta(days=request_days))
    signatures = {kind: await repo.purge_signatures(kind, now - ttl) for kind, ttl in signature_ttl.items()}
    return PurgeResult(requests, signatures)


async def run_retention(repo: Repository, *, request_days: int, interval: float = 3600.0,
                        signature_ttl: Mapping[SignatureKind, timedelta] = DEFAULT_SIGNATURE_TTL,
                        clock: Callable[[], datetime] = utc_now) -> None:
    """Purge now and then every ``interval`` seconds, forever (cancel to stop)."""
    while True:
        try:
            result = await purge_once(repo, request_days=request_days, now=clock(), signature_ttl=signature_ttl)
            if result.requests or any(result.signatures.values()):
                log.info("retention: deleted %d request rows, signatures %s", result.requests, result.signatures)
        except StoreUnavailable as e:
            log.warning("retention: database unavailable, skipping this round (%s)", e)
        await trio.sleep(interval)
