"""The ``Repository`` protocol: everything the daemon may ask of its durable state.

Two implementations (``sqlite.py``, ``postgres.py``) pass one conformance suite. Every method is trio-async and
runs its SQL in a worker thread, one transaction per call; nothing here blocks the trio loop.

Errors: :class:`~antigravityd.store.errors.ValidationError` for malformed input (a bad UUID included),
``NotFound`` for a well-formed reference to nothing, ``Conflict`` for a uniqueness clash, ``StoreUnavailable``
when the database cannot be reached (raised within a bounded time, never a hang; the store recovers by itself
once the database is back).

Consistency: reads marked *lag-tolerant* may be answered by the PostgreSQL replica (falling back to the primary
when it is down); everything else reads the primary and sees the caller's own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

import trio

from antigravityd.store.crypto import TokenCipher
from antigravityd.store.models import (
    Account,
    AccountDraft,
    AccountEvent,
    Credentials,
    ModelMapping,
    ProjectSource,
    QuotaSnapshot,
    RequestRecord,
    SignatureKind,
    SignatureRecord,
    StatsDimension,
    StatsRow,
    TokenTotals,
)
from antigravityd.store.ops_tokens import UpsertResult

__all__ = ["Repository", "UpsertResult"]


class Repository(Protocol):
    backend: str  # "sqlite" | "postgres"

    # -------------------------------------------------------------------------------------------- accounts
    async def list_accounts(self) -> list[Account]: ...
    async def get_account(self, account_id: str) -> Account: ...
    async def get_account_by_email(self, email: str) -> Account: ...
    async def find_account(self, ref: str) -> Account:
        """``ref`` is an account id (UUID) or an email."""

    async def create_account(self, draft: AccountDraft) -> Account:
        """Conflict if the email exists. Event: account_created."""

    async def upsert_account(self, draft: AccountDraft) -> UpsertResult:
        """Create, or update the account with this email; ``(account, created, changed_fields)``.
        Events: account_created, or one account_updated listing changed field names (none when unchanged)."""

    async def update_account(self, account_id: str, **changes: Any) -> Account:
        """``name=`` and/or ``proxy_url=`` (None or "" clears). Events: account_updated / proxy_changed."""

    async def delete_account(self, account_id: str) -> None:
        """Event: account_deleted (kept, with the email, after the row is gone)."""

    async def set_disabled(self, account_id: str, reason: str) -> Account:
        """Take the account out of service. Event: account_disabled {reason}."""

    async def enable(self, account_id: str) -> Account:
        """Event: account_enabled (only if it was disabled)."""

    async def set_proxy_disabled(self, account_id: str, disabled: bool, reason: str | None = None) -> Account:
        """Exclude from / return to the proxy pool. Event: account_disabled/enabled {scope: proxy}."""

    async def mark_verification_required(self, account_id: str, *, detail_url: str | None = None) -> Account:
        """Proxy-disable with reason verification_required. Event: verification_required."""

    async def set_protected_models(self, account_id: str, models: Iterable[str]) -> Account:
        """Events: model_protected / model_unprotected per model entering / leaving the set."""

    async def mark_used(self, usages: Mapping[str, datetime]) -> None:
        """Batch-bump last_used_at; no event, no change notification."""

    # -------------------------------------------------------------------------------------------- credentials
    async def get_credentials(self, account_id: str) -> Credentials: ...
    async def all_credentials(self) -> dict[str, Credentials]: ...
    async def update_credentials(self, account_id: str, *, access_token: str, expires_at: float,
                                 refresh_token: str | None = None) -> Credentials:
        """Events: token_refreshed, plus refresh_token_rotated (same transaction) when the refresh token changed."""

    async def update_project(self, account_id: str, project_id: str | None, source: ProjectSource | None) -> None:
        """Event: account_updated {fields: [project_id]} when it changed."""

    # -------------------------------------------------------------------------------------------- quotas
    async def get_quota(self, account_id: str) -> QuotaSnapshot | None: ...
    async def all_quotas(self) -> dict[str, QuotaSnapshot]: ...
    async def update_quota(self, account_id: str, snapshot: QuotaSnapshot, *,
                           protected_models: Iterable[str] | None = None) -> Account:
        """Events: quota_updated, plus model_protected/unprotected when ``protected_models`` changes the set."""

    async def record_rate_limit(self, account_id: str, *, model: str | None = None, reason: str | None = None,
                                retry_after: float | None = None) -> None:
        """Event only: rate_limited."""

    # -------------------------------------------------------------------------------------------- events
    async def events(self, *, account_id: str | None = None, email: str | None = None,
                     kinds: Iterable[str] | None = None, limit: int = 100,
                     before_id: int | None = None) -> list[AccountEvent]:
        """Newest first, lag-tolerant. Next page: ``before_id=page[-1].id``."""

    # -------------------------------------------------------------------------------------------- request log
    async def insert_requests(self, rows: Sequence[RequestRecord]) -> int:
        """One transaction; rows whose request_id is already stored are skipped. Returns rows inserted.
        Raises ValidationError (nothing written) if a row is malformed: validate rows before batching them."""

    async def recent_requests(self, *, limit: int = 100, before: tuple[datetime, str] | None = None,
                              since: datetime | None = None, account_id: str | None = None,
                              model: str | None = None, dialect: str | None = None,
                              errors_only: bool = False) -> list[RequestRecord]:
        """Newest first, lag-tolerant. Next page: ``before=(last.ts, last.request_id)``."""

    async def request_stats(self, by: StatsDimension, *, since: datetime,
                            until: datetime | None = None) -> list[StatsRow]:
        """Per hour/day (chronological) or per model/account (busiest first), whole hours, lag-tolerant."""

    async def token_totals(self, *, since: datetime, until: datetime | None = None) -> TokenTotals:
        """Totals and cache-hit rate over whole hours, lag-tolerant."""

    async def purge_requests(self, older_than: datetime) -> int:
        """Retention: delete request rows older than the cutoff (in bounded chunks) and their hourly totals."""

    # -------------------------------------------------------------------------------------------- settings
    async def get_setting(self, key: str, default: Any = None) -> Any: ...
    async def set_setting(self, key: str, value: Any) -> None:
        """Any JSON value (at most 256 KiB)."""

    async def all_settings(self) -> dict[str, Any]: ...

    # -------------------------------------------------------------------------------------------- model mappings
    async def set_mapping(self, key: str, target: str, *, updated_at: int | None = None) -> ModelMapping: ...
    async def delete_mapping(self, key: str, *, updated_at: int | None = None) -> ModelMapping:
        """Writes a tombstone (so the delete propagates to other instances)."""

    async def mappings(self, *, since: int | None = None, include_deleted: bool = False) -> list[ModelMapping]:
        """Entries changed after ``since`` (epoch ms); tombstones only with ``include_deleted``."""

    async def merge_mappings(self, remote: Iterable[ModelMapping]) -> list[ModelMapping]:
        """LWW-merge entries from another instance; returns those that won and were stored."""

    async def purge_mapping_tombstones(self, older_than: int) -> int:
        """Forget tombstones whose ``updated_at`` (epoch ms) is before ``older_than``; returns how many. Only safe
        once every instance has had the delete (the mapping sync purges after weeks, not rounds)."""

    # -------------------------------------------------------------------------------------------- signatures
    async def put_signature(self, kind: SignatureKind, key: str, signature: str, model_family: str) -> None: ...
    async def put_signatures(self, records: Sequence[tuple[SignatureKind, str, str, str]]) -> None:
        """Several ``(kind, key, signature, model_family)`` in one transaction; all or none."""

    async def get_signature(self, kind: SignatureKind, key: str) -> SignatureRecord | None:
        """Also marks it used, so the TTL counts from the last use."""

    async def purge_signatures(self, kind: SignatureKind, older_than: datetime) -> int: ...

    # -------------------------------------------------------------------------------------------- plumbing
    def watch_accounts(self) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[None]]:
        """``async with repo.watch_accounts() as changes: async for _ in changes: reload()``.

        Yields once at start and then whenever accounts, credentials or quotas changed — in any process sharing
        the database (PostgreSQL LISTEN/NOTIFY, SQLite change counters polled ~1 s). Bursts are coalesced; after
        a lost connection it yields again, since changes may have been missed."""

    def watch_settings(self) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[None]]:
        """The same for app settings and model mappings."""

    async def ping(self) -> None:
        """Readiness: returns when the primary answers, raises StoreUnavailable otherwise."""

    async def rotate_token_key(self, cipher: TokenCipher) -> int:
        """Re-encrypt every token with ``cipher``'s first key in one transaction; use that cipher from now on."""

    async def aclose(self) -> None: ...
