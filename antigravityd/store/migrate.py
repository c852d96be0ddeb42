"""Schema migrations: numbered SQL files per backend, each applied once, in order, in its own transaction.

Files live in ``migrations/<backend>/NNNN_name.sql`` at the top of a source checkout, or in the package
``antigravityd.migrations`` of an installed wheel. Applied versions are recorded in ``schema_migrations`` with a
checksum of the file, so ``status`` can show an applied file that was edited afterwards.

Two processes may migrate at once (two instances starting together, or the CLI next to the daemon): PostgreSQL
serialises them with a session advisory lock; SQLite with ``BEGIN IMMEDIATE`` around each step, re-reading the
applied set under the lock. The loser finds nothing left to do.

These functions are blocking; call them from a worker thread (``open_repository`` does).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import antigravityd
from antigravityd.store.errors import StoreError

__all__ = ["Migration", "MigrationStatus", "load_migrations", "migrate_postgres", "migrate_sqlite",
           "status_postgres", "status_sqlite"]

Backend = Literal["postgres", "sqlite"]
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# An arbitrary constant: the advisory lock key all antigravityd instances agree on for migrations.
PG_LOCK_KEY = 0x616E7469  # "anti"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    version: int
    name: str
    applied_at: datetime | None  # None = pending
    modified: bool  # applied, but the file changed since


def _migrations_root() -> importlib.resources.abc.Traversable:
    checkout = Path(antigravityd.__file__).parent.parent / "migrations"
    if (checkout / "postgres").is_dir():
        return checkout
    return importlib.resources.files("antigravityd.migrations")


def load_migrations(backend: Backend) -> list[Migration]:
    found = []
    for entry in _migrations_root().joinpath(backend).iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two {backend} migrations share a version number: {versions}")
    return found


def _status(migrations: list[Migration], applied: dict[int, tuple[datetime, str]]) -> list[MigrationStatus]:
    out = [
        MigrationStatus(m.version, m.name, applied[m.version][0] if m.version in applied else None,
                        m.version in applied and applied[m.version][1] != m.checksum)
        for m in migrations
    ]
    known = {m.version for m in migrations}
    # Versions in the database that this code does not know: a newer antigravityd migrated it.
    out += [MigrationStatus(v, "(unknown to this version)", at, False) for v, (at, _) in applied.items()
            if v not in known]
    return sorted(out, key=lambda s: s.version)


# ---------------------------------------------------------------------------------------------------- PostgreSQL

_PG_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)"""


def _pg_applied(conn) -> dict[int, tuple[datetime, str]]:
    rows = conn.execute("SELECT version, applied_at, checksum FROM schema_migrations").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def migrate_postgres(conninfo: str, *, connect_timeout: float = 10.0) -> list[Migration]:
    """Apply pending migrations; return the ones this call applied."""
    import psycopg

    migrations = load_migrations("postgres")
    done = []
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=max(1, round(connect_timeout)),
                         application_name="antigravityd-migrate") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (PG_LOCK_KEY,))
        try:
            with conn.transaction():
                conn.execute(_PG_TABLE)
            applied = _pg_applied(conn)
            for m in migrations:
                if m.version in applied:
                    continue
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
                        (m.version, m.name, m.checksum, datetime.now(UTC)),
                    )
                done.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (PG_LOCK_KEY,))
    return done


def status_postgres(conninfo: str, *, connect_timeout: float = 10.0) -> list[MigrationStatus]:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True, connect_timeout=max(1, round(connect_timeout))) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        applied = _pg_applied(conn) if exists else {}
    return _status(load_migrations("postgres"), applied)


# ---------------------------------------------------------------------------------------------------- SQLite

_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at REAL NOT NULL) STRICT"""


def split_sql(script: str) -> list[str]:
    """Split a script into statements; ``sqlite3.complete_statement`` understands trigger bodies and quotes."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip() and not all(
                part.strip().startswith("--") or not part.strip() for part in current.splitlines()
            ):
                statements.append(current.strip())
            current = ""
    if current.strip() and any(p.strip() and not p.strip().startswith("--") for p in current.splitlines()):
        raise StoreError(f"unterminated SQL statement: {current.strip()[:80]!r}")
    return statements


def _sqlite_applied(conn: sqlite3.Connection) -> dict[int, tuple[datetime, str]]:
    rows = conn.execute("SELECT version, applied_at, checksum FROM schema_migrations").fetchall()
    return {r[0]: (datetime.fromtimestamp(r[1], UTC), r[2]) for r in rows}


def connect_sqlite(path: Path, *, busy_timeout: float = 10.0) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN ourselves), WAL, foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    _enable_wal(conn, busy_timeout)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switching a new database to WAL takes an exclusive lock, and SQLite answers BUSY at once when another
    process (the daemon and a CLI command starting together) holds one meanwhile: the busy timeout does not
    apply there, so retry within it. Once in WAL (it persists), the pragma takes no lock."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                conn.close()
                raise
        time.sleep(0.01)


def migrate_sqlite(path: Path) -> list[Migration]:
    migrations = load_migrations("sqlite")
    done = []
    conn = connect_sqlite(path)
    try:
        conn.execute(_SQLITE_TABLE)
        for m in migrations:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: a concurrent migrator waits here
            try:
                if m.version not in _sqlite_applied(conn):
                    for statement in split_sql(m.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                        (m.version, m.name, m.checksum, datetime.now(UTC).timestamp()),
                    )
                    done.append(m)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    finally:
        conn.close()
    return done


def status_sqlite(path: Path) -> list[MigrationStatus]:
    applied: dict[int, tuple[datetime, str]] = {}
    if path.exists():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone():
                applied = _sqlite_applied(conn)
        finally:
            conn.close()
    return _status(load_migrations("sqlite"), applied)
