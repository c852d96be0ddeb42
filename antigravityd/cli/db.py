"""``antigravityd db migrate|status``: the schema of the configured store (PostgreSQL or the embedded SQLite)."""

from __future__ import annotations

import argparse
import sys

from antigravityd.cli import load_cli_config
from antigravityd.store import migrate, sqlite_path


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema: migrate, status",
                        description="Manage the schema of the configured store: PostgreSQL when database.url "
                                    "(DATABASE_URL) is set, else the SQLite file in the data directory.")
    dbsub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    m = dbsub.add_parser("migrate", help="apply pending migrations",
                         description="Apply every pending migration, each in its own transaction. Safe to run "
                                     "while the daemon runs and from several machines at once (they take turns).")
    m.set_defaults(func=_migrate)
    s = dbsub.add_parser("status", help="list applied and pending migrations",
                         description="Show which store is configured and which migrations are applied or pending.")
    s.set_defaults(func=_status)


def _target(args: argparse.Namespace) -> tuple[str, str]:
    """(backend, where) — where is the DSN for PostgreSQL, the file path for SQLite."""
    config = load_cli_config(args)
    if config.database.url:
        return "postgres", config.database.url
    return "sqlite", str(sqlite_path(config.data_path))


def describe(backend: str, where: str) -> str:
    if backend == "sqlite":
        return f"SQLite {where}"
    import psycopg  # only PostgreSQL commands pay for importing the driver

    params = psycopg.conninfo.conninfo_to_dict(where)
    return "PostgreSQL {}:{}/{}".format(params.get("host", "local socket"), params.get("port", 5432),
                                        params.get("dbname", "(default)"))  # never the password


def _migrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import psycopg

    backend, where = _target(args)
    try:
        done = migrate.migrate_postgres(where) if backend == "postgres" else migrate.migrate_sqlite(Path(where))
    except psycopg.OperationalError as e:
        print(f"antigravityd: cannot reach the database: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    print(describe(backend, where))
    if not done:
        print("schema is up to date")
    for m in done:
        print(f"applied {m.version:04d}_{m.name}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pathlib import Path

    import psycopg

    backend, where = _target(args)
    try:
        status = migrate.status_postgres(where) if backend == "postgres" else migrate.status_sqlite(Path(where))
    except psycopg.OperationalError as e:
        print(f"antigravityd: cannot reach the database: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    print(describe(backend, where))
    pending = 0
    for s in status:
        if s.applied_at is None:
            pending += 1
            state = "pending"
        else:
            state = "applied " + s.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            if s.modified:
                state += "  (file changed since it was applied)"
        print(f"{s.version:04d}_{s.name:<30} {state}")
    print(f"{pending} pending" if pending else "schema is up to date")
    return 0
