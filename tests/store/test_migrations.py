"""Migrations: from an empty database, re-runs are no-ops, and two processes migrating at once do not collide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from antigravityd.store import migrate

ROOT = Path(__file__).resolve().parents[2]

# Each child waits for the "go" file, then migrates: both start as close together as we can make them.
CHILD = """
import os, sys
from pathlib import Path
from antigravityd.store import migrate
go = Path(sys.argv[3])
while not go.exists():
    pass
target = sys.argv[2]
done = migrate.migrate_postgres(target) if sys.argv[1] == "postgres" else migrate.migrate_sqlite(Path(target))
print(len(done))
"""


def expected_tables() -> set[str]:
    return {"accounts", "tokens", "quotas", "account_events", "requests", "request_rollup", "app_settings",
            "model_mappings", "signatures", "schema_migrations"}


def pg_tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_files_are_numbered_and_parallel():
    pg, lite = migrate.load_migrations("postgres"), migrate.load_migrations("sqlite")
    assert [m.version for m in pg] == [m.version for m in lite] == list(range(1, len(pg) + 1))
    assert [m.name for m in pg] == [m.name for m in lite]


@pytest.mark.postgres
def test_postgres_from_empty_then_noop(empty_pg_dsn):
    assert [s.applied_at for s in migrate.status_postgres(empty_pg_dsn)] == [None] * len(
        migrate.load_migrations("postgres"))
    applied = migrate.migrate_postgres(empty_pg_dsn)
    assert len(applied) == len(migrate.load_migrations("postgres"))
    assert expected_tables() <= pg_tables(empty_pg_dsn)
    assert migrate.migrate_postgres(empty_pg_dsn) == []
    status = migrate.status_postgres(empty_pg_dsn)
    assert all(s.applied_at is not None and not s.modified for s in status)


def test_sqlite_from_empty_then_noop(tmp_path):
    db = tmp_path / "x.db"
    assert all(s.applied_at is None for s in migrate.status_sqlite(db))
    assert len(migrate.migrate_sqlite(db)) == len(migrate.load_migrations("sqlite"))
    assert migrate.migrate_sqlite(db) == []
    assert all(s.applied_at is not None for s in migrate.status_sqlite(db))
    import sqlite3

    names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert expected_tables() <= names


def test_split_sql_keeps_trigger_bodies_whole():
    parts = migrate.split_sql("-- c\nCREATE TABLE t (x INT);\nCREATE TRIGGER g AFTER INSERT ON t\n"
                              "BEGIN UPDATE t SET x = 1; UPDATE t SET x = 2; END;\n-- trailing comment\n")
    assert len(parts) == 2 and parts[1].endswith("END;")


def run_concurrently(backend: str, target: str, tmp_path: Path) -> list[int]:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, backend, target, str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(int(out.strip()))
    return results


@pytest.mark.postgres
def test_postgres_two_processes_at_once(empty_pg_dsn, tmp_path):
    results = run_concurrently("postgres", empty_pg_dsn, tmp_path)
    assert sorted(results) == [0, len(migrate.load_migrations("postgres"))]
    with psycopg.connect(empty_pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
            migrate.load_migrations("postgres"))


def test_sqlite_two_processes_at_once(tmp_path):
    db = tmp_path / "x.db"
    results = run_concurrently("sqlite", str(db), tmp_path)
    assert sorted(results) == [0, len(migrate.load_migrations("sqlite"))]
    assert all(s.applied_at is not None for s in migrate.status_sqlite(db))


@pytest.mark.postgres
def test_an_edited_applied_file_shows_as_modified(empty_pg_dsn):
    migrate.migrate_postgres(empty_pg_dsn)
    with psycopg.connect(empty_pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    assert migrate.status_postgres(empty_pg_dsn)[0].modified
