"""After a realistic session, no token and no prompt canary is readable anywhere we write: the database dump
(pg_dump / the SQLite files), the data directory (spill file included), the log records and the metrics."""

from __future__ import annotations

import logging
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from prometheus_client import CollectorRegistry, generate_latest

from antigravityd.accounts.importer import import_path
from antigravityd.monitor.recorder import RequestLogWriter
from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot, RequestRecord
from tests.support import pg

REFRESH = "1//0gCANARY-refresh-7f3a9c"
ROTATED = "1//0gCANARY-rotated-51be02"
ACCESS = "ya29.CANARY-access-0c44d1"
PROMPT = "CANARY-PROMPT-e1b9d6 please summarise my secret plans"
PROXY_PASSWORD = "CANARYproxypw"
SECRETS = [REFRESH, ROTATED, ACCESS, "CANARY-PROMPT-e1b9d6", PROXY_PASSWORD]


def database_bytes(backend: str, database_url: str, data_dir: Path) -> bytes:
    if backend == "postgres":
        return subprocess.run([str(pg.pg_bindir() / "pg_dump"), "--no-owner", database_url], capture_output=True,
                              check=True).stdout
    return b"".join(p.read_bytes() for p in data_dir.glob("antigravityd.db*"))  # the db, its WAL and SHM


async def test_no_secret_in_clear_anywhere(repo, backend, database_url, data_dir, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry()
    writer = RequestLogWriter(repo, spill_path=data_dir / "requests.spill", flush_interval=0.05, registry=registry)
    export = tmp_path / "export.json"
    export.write_text(f'[{{"email": "imported@example.com", "refresh_token": "{REFRESH}x"}}]')

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        await import_path(repo, export)
        result = await repo.upsert_account(AccountDraft(
            email="user@example.com", refresh_token=REFRESH, access_token=ACCESS, expires_at=2e9,
            proxy_url=f"http://user:{PROXY_PASSWORD}@127.0.0.1:3128"))
        a = result.account
        await repo.update_credentials(a.id, access_token=ACCESS + "2", expires_at=2e9 + 3600, refresh_token=ROTATED)
        await repo.update_quota(a.id, QuotaSnapshot({"claude-sonnet-4-6": ModelQuota(0.5, None)}))
        await repo.set_disabled(a.id, f"invalid_grant: refresh with {ROTATED} failed, bearer {ACCESS}")
        await repo.update_account(a.id, proxy_url=f"socks5://u:{PROXY_PASSWORD}@127.0.0.1:1080")
        for i in range(20):
            writer.record(RequestRecord(
                request_id=str(uuid.uuid4()), ts=datetime.now(UTC), dialect="gemini", status=200,
                path=f"/v1beta/models/gemini-3-flash:generateContent?key={ACCESS}&prompt={PROMPT}#{PROMPT}",
                account_id=a.id, account_email=a.email, mapped_model="gemini-3-flash", tokens_in=i))
        await writer.flush_and_close()
    assert (await repo.get_credentials(a.id)).refresh_token == ROTATED  # the data is there, just not readable

    dumps = {
        "database": database_bytes(backend, database_url, data_dir),
        **{f"data dir: {p.name}": p.read_bytes() for p in data_dir.iterdir() if p.is_file()},
        "logs": "\n".join(r.getMessage() for r in caplog.records).encode(),
        "metrics": generate_latest(registry),
    }
    assert len(dumps["database"]) > 1000 and b"user@example.com" in dumps["database"]  # a real dump
    for where, blob in dumps.items():
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret!r} readable in {where}"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_database_files_are_private(repo, data_dir):
    for p in data_dir.iterdir():
        assert p.stat().st_mode & 0o077 == 0, p
