"""The module's streaming-replication settings and scripts, run for real: a primary configured with exactly
what nix/postgres.nix renders (settings, pg_hba line, the role script with the password from a credential
file), and a replica cloned by the module's own bootstrap script and started with its settings. Same recipe
as the store's replica test (stack-notes §5); only the values come from the module."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import nixeval

PGBIN = Path("/usr/lib/postgresql/15/bin")
STUB_PG = "/nix/store/00000000000000000000000000000000-postgresql-15"
# ':' and '\' must be escaped in a .pgpass line: the bootstrap script does it.
PASSWORD = r"s3cr:et\pw'x"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (PGBIN / "pg_ctl").exists() or os.geteuid() != 0,
                       reason="needs PostgreSQL 15 server binaries and root (to run them as postgres)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    env_args = [f"{k}={v}" for k, v in (env or {}).items()]
    return subprocess.run(["runuser", "-u", "postgres", "--", "env", *env_args, *cmd], capture_output=True,
                          text=True, timeout=120, check=check, cwd=cwd)


def psql(port: int, sock_dir: Path, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return as_postgres("psql", "-h", str(sock_dir), "-p", str(port), "-U", "postgres", "-d", "postgres", "-tAq",
                       "-v", "ON_ERROR_STOP=1", "-c", sql, check=check)


def conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


def append_settings(data_dir: Path, settings: dict[str, object]) -> None:
    with (data_dir / "postgresql.conf").open("a") as f:
        f.write("\n# rendered by nix/postgres.nix\n")
        for key, value in settings.items():
            f.write(f"{key} = {conf_value(value)}\n")


def run_unit_script(script: str, base: Path, extra_env: dict[str, str]) -> None:
    """A module unit's `script`, with the stub store paths pointed at this machine's PostgreSQL."""
    script = script.replace(f"{STUB_PG}/bin/", "")
    env = {"PATH": f"{PGBIN}:/usr/bin:/bin", "CREDENTIALS_DIRECTORY": str(base / "creds"), **extra_env}
    result = as_postgres("bash", "-euo", "pipefail", "-c", script, env=env, cwd=base, check=False)
    assert result.returncode == 0, f"script failed:\n{script}\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def base() -> Iterator[Path]:
    # Not under pytest's tmp_path: that is private to root, and the servers run as postgres.
    path = Path(tempfile.mkdtemp(prefix="agd-repl-"))
    shutil.chown(path, "postgres", "postgres")
    try:
        yield path
    finally:
        for name in ("replica", "primary"):
            if (path / name / "data" / "PG_VERSION").exists():
                as_postgres(str(PGBIN / "pg_ctl"), "-D", str(path / name / "data"), "-m", "immediate", "stop",
                            check=False)
        shutil.rmtree(path, ignore_errors=True)


def test_replica_follows_primary_with_the_modules_settings(base: Path) -> None:
    p1, p2 = free_port(), free_port()
    for d in ("primary", "replica", "creds"):
        (base / d).mkdir()
        shutil.chown(base / d, "postgres", "postgres")
    secret = base / "creds" / "replication-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    shutil.chown(secret, "postgres", "postgres")

    repl = {"passwordFile": str(secret)}
    primary = nixeval.eval_module(
        {"database": {"replication": repl | {"role": "primary", "replicaAddresses": ["127.0.0.1/32"],
                                             "listenAddresses": ["127.0.0.1"]}}},
        data_dir=str(base / "primary" / "data"))
    replica = nixeval.eval_module(
        {"database": {"replication": repl | {"role": "replica", "primaryHost": "127.0.0.1", "primaryPort": p1}}},
        host_name="agd-replica", data_dir=str(base / "replica" / "data"))

    # Primary: initdb, then the module's settings and pg_hba line (scram for replication, nothing else).
    primary_data = base / "primary" / "data"
    as_postgres(str(PGBIN / "initdb"), "-D", str(primary_data), "-A", "trust", "-U", "postgres", "--no-sync")
    pg = primary["config"]["services"]["postgresql"]
    assert pg["settings"]["wal_level"] == "replica"
    append_settings(primary_data, pg["settings"] | {"fsync": False})
    (primary_data / "pg_hba.conf").write_text(
        "local all all trust\n" + pg["authentication"] + "\nhost all all 127.0.0.1/32 trust\n")
    as_postgres(str(PGBIN / "pg_ctl"), "-D", str(primary_data), "-o", f"-p {p1} -k {base}",
                "-l", str(base / "primary.log"), "-w", "start")

    # The module's role script creates the replication role with the password from the credential.
    role_unit = primary["config"]["systemd"]["services"]["antigravityd-replication-role"]
    run_unit_script(role_unit["script"], base, {"PGHOST": str(base), "PGPORT": str(p1)})
    assert psql(p1, base, "select rolreplication from pg_roles where rolname = 'replicator'").stdout.strip() == "t"

    # Replica: the module's bootstrap clones the primary (scram via the .pgpass it writes), then starts
    # with the module's settings.
    bootstrap = replica["config"]["systemd"]["services"]["antigravityd-replica-bootstrap"]
    run_unit_script(bootstrap["script"], base, {})
    replica_data = base / "replica" / "data"
    assert (replica_data / "standby.signal").exists()
    append_settings(replica_data, replica["config"]["services"]["postgresql"]["settings"] | {"fsync": False})
    as_postgres(str(PGBIN / "pg_ctl"), "-D", str(replica_data), "-o", f"-p {p2} -k {base}",
                "-l", str(base / "replica.log"), "-w", "start")

    assert psql(p2, base, "select pg_is_in_recovery()").stdout.strip() == "t"
    psql(p1, base, "create table deploy_probe(id int primary key, note text)")
    psql(p1, base, "insert into deploy_probe values (1, 'hi')")
    deadline = time.monotonic() + 20
    while True:
        got = psql(p2, base, "select note from deploy_probe where id = 1", check=False).stdout.strip()
        if got == "hi":
            break
        assert time.monotonic() < deadline, "the row never reached the replica"
        time.sleep(0.05)  # polling a condition with a deadline, not synchronising on time
    status = psql(p1, base, "select application_name, state from pg_stat_replication").stdout.strip()
    assert status == "agd-replica|streaming"
    refused = psql(p2, base, "insert into deploy_probe values (2, 'no')", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr
