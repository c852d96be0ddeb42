"""PostgreSQL for tests: the machine's server, fresh databases on it, and throwaway clusters (with a streaming
replica) that a test may stop and start at will.

Server binaries refuse to run as root, so when we are root they run as the ``postgres`` user through
``runuser``; cluster directories live under /tmp, owned by that user. Ports are picked free; clusters are torn
down with ``-m immediate`` (nothing in them is worth a clean shutdown).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

# URLs, not key=value strings: database.url only accepts postgresql:// URLs, and tests pass these to the CLI.
LOCAL_DSN = os.environ.get("ANTIGRAVITY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_bindir() -> Path:
    if env := os.environ.get("PGBIN"):
        return Path(env)
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return Path("/usr/local/bin")


def binaries_available() -> bool:
    return (pg_bindir() / "initdb").exists() and (pg_bindir() / "pg_ctl").exists()


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_as_postgres(args), capture_output=True, text=True, check=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dsn(port: int, dbname: str = "postgres", host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres@{host}:{port}/{dbname}"


def local_server_available() -> bool:
    try:
        with psycopg.connect(LOCAL_DSN, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


class Cluster:
    """One postgres server process on a data directory of its own."""

    def __init__(self, base: Path, name: str, port: int) -> None:
        self.base, self.name, self.port = base, name, port
        self.datadir = base / name
        self.logfile = base / f"{name}.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return dsn(self.port, dbname)

    def start(self, *extra: str) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off "
                f"-c full_page_writes=off -c synchronous_commit=off {' '.join(extra)}")
        run([str(pg_bindir() / "pg_ctl"), "-D", str(self.datadir), "-o", opts, "-l", str(self.logfile), "-w",
             "start"])

    def stop(self, mode: str = "fast") -> None:
        run([str(pg_bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")


class ClusterSet:
    """A primary and optionally a streaming replica, in one temporary directory."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="agd-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.clusters: list[Cluster] = []

    def primary(self) -> Cluster:
        c = Cluster(self.base, "primary", free_port())
        run([str(pg_bindir() / "initdb"), "-D", str(c.datadir), "-A", "trust", "-U", "postgres", "--no-sync"])
        c.start()
        self.clusters.append(c)
        return c

    def replica(self, primary: Cluster) -> Cluster:
        c = Cluster(self.base, "replica", free_port())
        run([str(pg_bindir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
             "-D", str(c.datadir), "-R", "-X", "stream", "-c", "fast"])
        c.start("-c hot_standby=on")
        self.clusters.append(c)
        return c

    def close(self) -> None:
        for c in reversed(self.clusters):
            c.kill()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def cluster_set() -> Iterator[ClusterSet]:
    cs = ClusterSet()
    try:
        yield cs
    finally:
        cs.close()


def create_database(server_dsn: str, *, template: str = "template0") -> str:
    """A new empty database on the server; returns its DSN."""
    name = "agd_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return _with_dbname(server_dsn, name)


def drop_database(server_dsn: str, database_dsn: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_dsn)["dbname"]
    with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_dbname(server_dsn: str, name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    return dsn(int(params.get("port", 5432)), name, params.get("host", "127.0.0.1"))


def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll a condition with a deadline (for blocking, non-trio code paths in fixtures)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
