"""The shared half of both repositories: each public method is one unit of work from ``ops_*`` run through the
backend's ``_write`` (primary, one write transaction) or ``_read`` (a read transaction, optionally on a replica).

A backend subclass supplies the connection handling (``_write``/``_read``/``ping``/``aclose``), the bulk request
insert, retention and the change feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from antigravityd.store import ops_accounts as acc
from antigravityd.store import ops_misc as misc
from antigravityd.store import ops_tokens as tok
from antigravityd.store import validate as v
from antigravityd.store.crypto import TokenCipher
from antigravityd.store.errors import NotFound
from antigravityd.store.models import (
    Account,
    AccountDraft,
    AccountEvent,
    Credentials,
    EventKind,
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
from antigravityd.store.tx import Dialect, Tx

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SqlRepository:
    backend: str
    dialect: Dialect

    def __init__(self, cipher: TokenCipher, clock: Clock = utc_now) -> None:
        self._cipher = cipher
        self._clock = clock

    # -------------------------------------------------------------------------------------------- backend hooks
    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any, lag_ok: bool = False) -> T:
        raise NotImplementedError

    async def insert_requests(self, rows: Sequence[RequestRecord]) -> int:
        raise NotImplementedError

    async def purge_requests(self, older_than: datetime) -> int:
        raise NotImplementedError

    # -------------------------------------------------------------------------------------------- accounts
    async def list_accounts(self) -> list[Account]:
        return await self._read(acc.list_all)

    async def get_account(self, account_id: str) -> Account:
        v.account_id(account_id)  # fail fast on the trio side, before a thread hop
        return await self._read(acc.get, account_id)

    async def get_account_by_email(self, email: str) -> Account:
        def work(tx: Tx) -> Account:
            account = acc.get_by_email(tx, email)
            if account is None:
                raise NotFound(f"no account with email {v.email(email)}")
            return account

        return await self._read(work)

    async def find_account(self, ref: str) -> Account:
        return await self._read(acc.find, ref)

    async def create_account(self, draft: AccountDraft) -> Account:
        def work(tx: Tx) -> Account:
            return tok.upsert(tx, draft, self._cipher, create_only=True).account

        return await self._write(work)

    async def upsert_account(self, draft: AccountDraft) -> UpsertResult:
        return await self._write(tok.upsert, draft, self._cipher)

    async def update_account(self, account_id: str, **changes: Any) -> Account:
        unknown = set(changes) - {"name", "proxy_url"}
        if unknown:
            raise v.ValidationError(f"cannot update {', '.join(sorted(unknown))}")

        def work(tx: Tx) -> Account:
            return acc.update_profile(tx, account_id, name=changes.get("name"), proxy_url=changes.get("proxy_url"),
                                      set_name="name" in changes, set_proxy="proxy_url" in changes)

        return await self._write(work)

    async def delete_account(self, account_id: str) -> None:
        await self._write(acc.delete, account_id)

    async def set_disabled(self, account_id: str, reason: str) -> Account:
        return await self._write(acc.set_disabled, account_id, True, reason)

    async def enable(self, account_id: str) -> Account:
        return await self._write(acc.set_disabled, account_id, False, None)

    async def set_proxy_disabled(self, account_id: str, disabled: bool, reason: str | None = None) -> Account:
        return await self._write(acc.set_proxy_disabled, account_id, disabled, reason)

    async def mark_verification_required(self, account_id: str, *, detail_url: str | None = None) -> Account:
        def work(tx: Tx) -> Account:
            return acc.set_proxy_disabled(tx, account_id, True, "verification_required",
                                          kind=EventKind.VERIFICATION_REQUIRED,
                                          details={"detail_url": v.text(detail_url, "detail url", 2048)})

        return await self._write(work)

    async def set_protected_models(self, account_id: str, models: Iterable[str]) -> Account:
        wanted = v.model_names(models)

        def work(tx: Tx) -> Account:
            return acc.set_protected(tx, acc.get(tx, account_id, lock=True), wanted)

        return await self._write(work)

    async def mark_used(self, usages: Mapping[str, datetime]) -> None:
        if usages:
            await self._write(acc.mark_used, dict(usages))

    # -------------------------------------------------------------------------------------------- credentials
    async def get_credentials(self, account_id: str) -> Credentials:
        return await self._read(tok.get_credentials, account_id, self._cipher)

    async def all_credentials(self) -> dict[str, Credentials]:
        return await self._read(tok.all_credentials, self._cipher)

    async def update_credentials(self, account_id: str, *, access_token: str, expires_at: float,
                                 refresh_token: str | None = None) -> Credentials:
        def work(tx: Tx) -> Credentials:
            return tok.update_credentials(tx, self._cipher, account_id, access_token=access_token,
                                          expires_at=expires_at, refresh_token=refresh_token)

        return await self._write(work)

    async def update_project(self, account_id: str, project_id: str | None, source: ProjectSource | None) -> None:
        await self._write(tok.update_project, account_id, project_id, source)

    # -------------------------------------------------------------------------------------------- quotas
    async def get_quota(self, account_id: str) -> QuotaSnapshot | None:
        return await self._read(tok.get_quota, account_id)

    async def all_quotas(self) -> dict[str, QuotaSnapshot]:
        return await self._read(tok.all_quotas)

    async def update_quota(self, account_id: str, snapshot: QuotaSnapshot, *,
                           protected_models: Iterable[str] | None = None) -> Account:
        protected = None if protected_models is None else v.model_names(protected_models)
        return await self._write(tok.update_quota, account_id, snapshot, protected)

    async def record_rate_limit(self, account_id: str, *, model: str | None = None, reason: str | None = None,
                                retry_after: float | None = None) -> None:
        def work(tx: Tx) -> None:
            tok.record_rate_limit(tx, account_id, model=model, reason=reason, retry_after=retry_after)

        await self._write(work)

    # -------------------------------------------------------------------------------------------- events
    async def events(self, *, account_id: str | None = None, email: str | None = None,
                     kinds: Iterable[str] | None = None, limit: int = 100,
                     before_id: int | None = None) -> list[AccountEvent]:
        kinds = None if kinds is None else list(kinds)

        def work(tx: Tx) -> list[AccountEvent]:
            return acc.events(tx, account_id=account_id, email=email, kinds=kinds, limit=limit, before_id=before_id)

        return await self._read(work, lag_ok=True)

    # -------------------------------------------------------------------------------------------- request log
    async def recent_requests(self, *, limit: int = 100, before: tuple[datetime, str] | None = None,
                              since: datetime | None = None, account_id: str | None = None,
                              model: str | None = None, dialect: str | None = None,
                              errors_only: bool = False) -> list[RequestRecord]:
        def work(tx: Tx) -> list[RequestRecord]:
            return misc.recent_requests(tx, limit=limit, before=before, since=since, account_id=account_id,
                                        model=model, dialect=dialect, errors_only=errors_only)

        return await self._read(work, lag_ok=True)

    async def request_stats(self, by: StatsDimension, *, since: datetime,
                            until: datetime | None = None) -> list[StatsRow]:
        return await self._read(misc.request_stats, by, since, until, lag_ok=True)

    async def token_totals(self, *, since: datetime, until: datetime | None = None) -> TokenTotals:
        return await self._read(misc.token_totals, since, until, lag_ok=True)

    # -------------------------------------------------------------------------------------------- settings
    async def get_setting(self, key: str, default: Any = None) -> Any:
        found, value = await self._read(misc.get_setting, key)
        return value if found else default

    async def set_setting(self, key: str, value: Any) -> None:
        await self._write(misc.set_setting, key, value)

    async def all_settings(self) -> dict[str, Any]:
        return await self._read(misc.all_settings)

    # -------------------------------------------------------------------------------------------- mappings
    async def set_mapping(self, key: str, target: str, *, updated_at: int | None = None) -> ModelMapping:
        if not isinstance(target, str) or not target.strip():
            raise v.ValidationError("mapping target must be a non-empty string")
        return await self._write(misc.write_local_mapping, key, target, updated_at)

    async def delete_mapping(self, key: str, *, updated_at: int | None = None) -> ModelMapping:
        return await self._write(misc.write_local_mapping, key, None, updated_at)

    async def mappings(self, *, since: int | None = None, include_deleted: bool = False) -> list[ModelMapping]:
        return await self._read(misc.list_mappings, since, include_deleted)

    async def merge_mappings(self, remote: Iterable[ModelMapping]) -> list[ModelMapping]:
        return await self._write(misc.merge_mappings, list(remote))

    async def purge_mapping_tombstones(self, older_than: int) -> int:
        if not isinstance(older_than, int) or isinstance(older_than, bool):
            raise v.ValidationError("older_than must be epoch milliseconds")

        def work(tx: Tx) -> int:
            return tx.run("DELETE FROM model_mappings WHERE deleted = true AND updated_at < :cutoff", cutoff=older_than)

        return await self._write(work)

    # -------------------------------------------------------------------------------------------- signatures
    async def put_signature(self, kind: SignatureKind, key: str, signature: str, model_family: str) -> None:
        await self._write(misc.put_signature, kind, key, signature, model_family)

    async def put_signatures(self, records: Sequence[tuple[SignatureKind, str, str, str]]) -> None:
        await self._write(misc.put_signatures, list(records))

    async def get_signature(self, kind: SignatureKind, key: str) -> SignatureRecord | None:
        return await self._write(misc.get_signature, kind, key)

    async def purge_signatures(self, kind: SignatureKind, older_than: datetime) -> int:
        return await self._write(misc.purge_signatures, kind, older_than)

    # -------------------------------------------------------------------------------------------- keys
    async def check_token_key(self) -> None:
        await self._write(tok.check_key, self._cipher)

    async def rotate_token_key(self, cipher: TokenCipher) -> int:
        count = await self._write(tok.reencrypt_all, cipher)
        self._cipher = cipher
        return count
