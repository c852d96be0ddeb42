"""The db/accounts/keys commands, run as real subprocesses against a temporary data dir (and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SECRET_MARKERS = ("1//0gFAKE", "ya29.FAKE", "s3cret")  # the fixtures' tokens and proxy password


@pytest.fixture
def cli(tmp_path, data_dir):
    outputs: list[str] = []

    def run(*args: str, database_url: str = "", stdin: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ANTIGRAVITY_CONFIG": str(tmp_path / "absent.toml"),
               "ANTIGRAVITY_DATA_DIR": str(data_dir), "DATABASE_URL": database_url}
        proc = subprocess.run([sys.executable, "-m", "antigravityd", *args], env=env, capture_output=True,
                              text=True, timeout=60, input=stdin, check=False)
        outputs.append(proc.stdout + proc.stderr)
        return proc

    run.outputs = outputs
    yield run
    for out in outputs:  # whatever a command printed, it never showed a token or a proxy password
        assert not any(marker in out for marker in SECRET_MARKERS), out


@pytest.mark.parametrize("argv", [
    ["db", "--help"], ["db", "migrate", "--help"], ["db", "status", "--help"], ["accounts", "--help"],
    ["accounts", "list", "--help"], ["accounts", "add", "--help"], ["accounts", "import", "--help"],
    ["accounts", "remove", "--help"], ["accounts", "enable", "--help"], ["accounts", "disable", "--help"],
    ["accounts", "events", "--help"], ["keys", "--help"], ["keys", "rotate", "--help"], ["keys", "generate", "--help"],
])
def test_help_is_useful(cli, argv):
    proc = cli(*argv)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: antigravityd")
    assert len(proc.stdout.splitlines()) >= 4  # a description, not just a usage line


def test_db_migrate_and_status_sqlite(cli, data_dir):
    status = cli("db", "status")
    assert status.returncode == 0 and "pending" in status.stdout and str(data_dir) in status.stdout
    assert cli("db", "migrate").stdout.splitlines()[1] == "applied 0001_initial"
    assert "schema is up to date" in cli("db", "migrate").stdout
    assert "schema is up to date" in cli("db", "status").stdout


@pytest.mark.postgres
def test_db_migrate_and_status_postgres(cli, empty_pg_dsn):
    assert "1 pending" in cli("db", "status", database_url=empty_pg_dsn).stdout
    migrated = cli("db", "migrate", database_url=empty_pg_dsn)
    assert migrated.returncode == 0 and migrated.stdout.startswith("PostgreSQL 127.0.0.1:")
    assert "schema is up to date" in cli("db", "status", database_url=empty_pg_dsn).stdout


def test_db_status_unreachable_postgres(cli):
    from tests.support.pg import dsn, free_port

    proc = cli("db", "status", database_url=dsn(free_port()))
    assert proc.returncode == 1 and "cannot reach the database" in proc.stderr


def test_accounts_lifecycle(cli, database_url):
    def run(*args, **kw):
        return cli(*args, database_url=database_url, **kw)

    missing_email = run("accounts", "add", "--refresh-token", "1//0gFAKE-cli")
    assert missing_email.returncode == 2 and "--email is required" in missing_email.stderr

    added = run("accounts", "add", "--refresh-token", "-", "--email", "Cli@Example.com", "--name", "C",
                stdin="1//0gFAKE-cli-token\n")
    assert added.returncode == 0 and added.stdout.startswith("added cli@example.com (")
    account_id = added.stdout.split("(")[1].rstrip(")\n")
    again = run("accounts", "add", "--refresh-token", "1//0gFAKE-cli-token", "--email", "cli@example.com",
                "--name", "C")
    assert again.stdout.startswith("unchanged")

    listed = json.loads(run("accounts", "list", "--json").stdout)
    assert [(a["id"], a["email"], a["name"], a["disabled"]) for a in listed] == [
        (account_id, "cli@example.com", "C", False)]

    assert run("accounts", "disable", "cli@example.com", "--reason", "maintenance").returncode == 0
    assert "disabled" in run("accounts", "list").stdout
    assert run("accounts", "enable", account_id).stdout.strip() == "cli@example.com: active"
    assert "proxy-off" in run("accounts", "disable", account_id, "--proxy").stdout

    events = json.loads(run("accounts", "events", "cli@example.com", "--json").stdout)
    assert [e["kind"] for e in events] == ["account_disabled", "account_enabled", "account_disabled",
                                           "account_created"]

    assert run("accounts", "remove", "cli@example.com").returncode == 0
    assert json.loads(run("accounts", "list", "--json").stdout) == []
    history = run("accounts", "events", "cli@example.com")
    assert history.returncode == 0 and history.stdout.splitlines()[0].split()[2] == "account_deleted"

    unknown = run("accounts", "remove", "nobody@example.com")
    assert unknown.returncode == 1 and "no account" in unknown.stderr
    malformed = run("accounts", "enable", "12345")
    assert malformed.returncode == 2 and "neither an account id" in malformed.stderr


def test_accounts_import_and_key_rotation(cli, database_url, data_dir):
    def run(*args, **kw):
        return cli(*args, database_url=database_url, **kw)

    first = run("accounts", "import", str(FIXTURES / "antigravity_tools"))
    assert first.returncode == 1  # one corrupt file and one without a token: reported, the rest imported
    assert first.stdout.splitlines()[-1] == "3 created, 2 error, 2 skipped"
    report = json.loads(run("accounts", "import", str(FIXTURES / "antigravity_tools"), "--json").stdout)
    assert report["counts"] == {"unchanged": 3, "error": 2, "skipped": 2}

    listed = json.loads(run("accounts", "list", "--json").stdout)
    full = next(a for a in listed if a["email"] == "full.user@example.com")
    assert full["proxy_url"] == "socks5h://***@127.0.0.1:1080"  # proxy password hidden

    key_before = (data_dir / "token.key").read_text()
    rotated = run("keys", "rotate")
    assert rotated.returncode == 0 and "re-encrypted the tokens of 3 account(s)" in rotated.stdout
    assert (data_dir / "token.key").read_text() != key_before
    again = run("accounts", "import", str(FIXTURES / "antigravity_tools"), "--json")  # tokens still readable
    assert json.loads(again.stdout)["counts"]["unchanged"] == 3


def test_keys_generate_prints_a_key(cli):
    from cryptography.fernet import Fernet

    proc = cli("keys", "generate")
    Fernet(proc.stdout.strip().encode())
