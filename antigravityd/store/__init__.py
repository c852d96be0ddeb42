"""Durable state: one :class:`Repository` interface, an embedded SQLite and a PostgreSQL implementation.

``DATABASE_URL`` set → PostgreSQL (optionally with a read replica); unset → SQLite in the data directory. Never
both: there is one store and one id scheme.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from antigravityd.store.base import Repository, UpsertResult
from antigravityd.store.crypto import KeyFileError, TokenCipher
from antigravityd.store.errors import Conflict, NotFound, StoreError, StoreUnavailable, ValidationError
from antigravityd.store.models import (
    Account,
    AccountDraft,
    AccountEvent,
    Credentials,
    EventKind,
    ModelMapping,
    ModelQuota,
    QuotaSnapshot,
    RequestRecord,
    SignatureRecord,
    StatsRow,
    TokenTotals,
)

if TYPE_CHECKING:
    from antigravityd.config import Config

__all__ = [
    "Account", "AccountDraft", "AccountEvent", "Conflict", "Credentials", "EventKind", "KeyFileError",
    "ModelMapping", "ModelQuota", "NotFound", "QuotaSnapshot", "Repository", "RequestRecord", "SignatureRecord",
    "StatsRow", "StoreError", "StoreUnavailable", "TokenCipher", "TokenTotals", "UpsertResult", "ValidationError",
    "open_from_config", "open_repository", "sqlite_path",
]


def sqlite_path(data_dir: Path) -> Path:
    from antigravityd.store.sqlite import DB_FILE_NAME

    return Path(data_dir) / DB_FILE_NAME


async def open_repository(
    database_url: str,
    *,
    replica_url: str = "",
    data_dir: Path,
    token_key_file: str = "",
    pool_min: int = 1,
    pool_max: int = 10,
    statement_timeout: float = 10.0,
    acquire_timeout: float = 3.0,
    cipher: TokenCipher | None = None,
) -> Repository:
    """Migrate the schema and return an opened repository; close it with ``await repo.aclose()``.

    Raises StoreUnavailable when PostgreSQL cannot be reached within ``acquire_timeout``, KeyFileError when the
    token key is missing or does not match the stored tokens.
    """
    import trio

    data_dir = Path(data_dir)
    if cipher is None:
        cipher = await trio.to_thread.run_sync(TokenCipher.load, token_key_file, data_dir)
    if database_url:
        from antigravityd.store.postgres import PostgresRepository

        return await PostgresRepository.open(
            database_url, cipher, replica_url=replica_url, pool_min=pool_min, pool_max=pool_max,
            statement_timeout=statement_timeout, acquire_timeout=acquire_timeout,
        )
    from antigravityd.store.sqlite import SqliteRepository

    return await SqliteRepository.open(sqlite_path(data_dir), cipher, busy_timeout=statement_timeout)


async def open_from_config(config: Config) -> Repository:
    db = config.database
    return await open_repository(
        db.url, replica_url=db.replica_url, data_dir=config.data_path, token_key_file=config.security.token_key_file,
        pool_min=db.pool_min, pool_max=db.pool_max, statement_timeout=db.statement_timeout,
    )
