"""Fixtures for the store tests: a repository on each backend, fresh for every test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest

from antigravityd.store import Repository, open_repository
from tests.support import pg


@pytest.fixture(scope="session")
def pg_server_dsn():
    """The machine's PostgreSQL if it answers, else a throwaway cluster for the session."""
    if pg.local_server_available():
        yield pg.LOCAL_DSN
        return
    if not pg.binaries_available():
        pytest.skip("no PostgreSQL server and no PostgreSQL binaries")
    with pg.cluster_set() as cs:
        yield cs.primary().dsn()


@pytest.fixture(scope="session")
def pg_template(pg_server_dsn):
    """A migrated database to clone: a fresh database per test without re-running the migrations each time."""
    from antigravityd.store.migrate import migrate_postgres

    dsn = pg.create_database(pg_server_dsn)
    migrate_postgres(dsn)
    yield psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    pg.drop_database(pg_server_dsn, dsn)


@pytest.fixture
def pg_dsn(pg_server_dsn, pg_template):
    """A fresh, migrated database for one test."""
    dsn = pg.create_database(pg_server_dsn, template=pg_template)
    yield dsn
    pg.drop_database(pg_server_dsn, dsn)


@pytest.fixture
def empty_pg_dsn(pg_server_dsn):
    """A fresh database without any schema."""
    dsn = pg.create_database(pg_server_dsn)
    yield dsn
    pg.drop_database(pg_server_dsn, dsn)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(request, backend) -> str:
    return request.getfixturevalue("pg_dsn") if backend == "postgres" else ""


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_repo(database_url, data_dir) -> Callable[..., contextlib.AbstractAsyncContextManager[Repository]]:
    """``async with open_repo() as repo``: another repository on the same database (another "instance")."""

    @contextlib.asynccontextmanager
    async def opener(**kwargs) -> AsyncIterator[Repository]:
        repo = await open_repository(database_url, data_dir=data_dir, **kwargs)
        try:
            yield repo
        finally:
            await repo.aclose()

    return opener


@pytest.fixture
async def repo(open_repo) -> AsyncIterator[Repository]:
    async with open_repo() as r:
        yield r


@pytest.fixture
def raw_sql(backend, database_url, data_dir):
    """Run SQL on the test database behind the repository's back (to plant failures or inspect rows)."""
    import sqlite3

    from antigravityd.store import sqlite_path

    def run(sqlite_sql: str, postgres_sql: str) -> list[tuple]:
        if backend == "sqlite":
            conn = sqlite3.connect(sqlite_path(data_dir), isolation_level=None)
            try:
                cur = conn.execute(sqlite_sql)
                return cur.fetchall()
            finally:
                conn.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            cur = conn.execute(postgres_sql)
            return cur.fetchall() if cur.description else []

    return run
