"""Processes and data for the admin tests: the fake upstream as a subprocess, the daemon pointed at it, and
accounts, quotas, request-log rows and mappings written straight into the daemon's own store (the registry picks
them up through the store's change feed)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio

from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot, RequestRecord, open_repository
from tests.support.daemon import Daemon, start_daemon
from tests.support.gateway import FakeProcess, upstream_settings

ROOT = Path(__file__).resolve().parents[2]


def start_fake(workdir: Path) -> FakeProcess:
    return FakeProcess(workdir, {})


def child_env() -> dict[str, str]:
    """The environment of a child process: this checkout first on the path, no ANTIGRAVITY_* from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTIGRAVITY_", "LISTEN_", "NOTIFY_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def start_admin_daemon(workdir: Path, fake: FakeProcess | None, *, settings: Mapping[str, Any] | None = None,
                       env: Mapping[str, str] | None = None, name: str = "daemon") -> Daemon:
    values = dict(upstream_settings(fake.info)) if fake is not None else {}
    values.update(settings or {})
    return start_daemon(workdir, settings=values, env={"PYTHONPATH": child_env()["PYTHONPATH"], **(env or {})},
                        name=name)


# ---------------------------------------------------------------------------------------------------- the store


def in_store(daemon: Daemon, work: Callable[[Any], Any]) -> Any:
    """Run ``await work(repo)`` against the daemon's own SQLite store (from this process, as the CLI would)."""

    async def main() -> Any:
        repo = await open_repository("", data_dir=daemon.data_dir)
        try:
            return await work(repo)
        finally:
            await repo.aclose()

    return trio.run(main)


@dataclass(frozen=True)
class Seeded:
    id: str
    email: str
    refresh_token: str
    access_token: str


def seed_account(daemon: Daemon, email: str, *, tier: str = "g1-pro-tier", refresh_token: str | None = None,
                 access_token: str | None = None, quota: Mapping[str, tuple[float, float | None]] | None = None,
                 proxy_url: str | None = None, **draft: Any) -> Seeded:
    """An account with a far-off token expiry (so the daemon never refreshes it) and, optionally, a quota:
    ``{model: (remaining fraction, reset in seconds or None)}``."""
    refresh_token = refresh_token or f"1//seed-refresh-{uuid.uuid4().hex}"
    access_token = access_token or f"ya29.seed-access-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    snapshot = None
    if quota is not None:
        snapshot = QuotaSnapshot(
            models={m: ModelQuota(f, None if r is None else now + timedelta(seconds=r)) for m, (f, r) in quota.items()},
            tier=tier, fetched_at=now)

    async def work(repo: Any) -> Seeded:
        result = await repo.upsert_account(AccountDraft(
            email=email, refresh_token=refresh_token, access_token=access_token, expires_at=time.time() + 86400,
            project_id=f"project-{email.split('@')[0]}", project_source="upstream", tier=tier, quota=snapshot,
            proxy_url=proxy_url, **draft))
        return Seeded(result.account.id, result.account.email, refresh_token, access_token)

    return in_store(daemon, work)


def seed_requests(daemon: Daemon, rows: list[RequestRecord]) -> int:
    async def work(repo: Any) -> int:
        return await repo.insert_requests(rows)

    return in_store(daemon, work)


def request_row(*, ts: datetime | None = None, status: int = 200, model: str = "gemini-3-flash",
                account: Seeded | None = None, dialect: str = "openai", **fields: Any) -> RequestRecord:
    return RequestRecord(
        request_id=fields.pop("request_id", uuid.uuid4().hex), ts=ts or datetime.now(UTC), dialect=dialect,
        path=fields.pop("path", "/v1/chat/completions"), status=status, requested_model=model, mapped_model=model,
        account_id=account.id if account else None, account_email=account.email if account else None,
        error_class=None if status < 400 else "rate_limited", **{"tokens_in": 100, "tokens_out": 20,
                                                                 "latency_ms": 250, **fields})


# ---------------------------------------------------------------------------------------------------- waiting


def wait_until(check: Callable[[], Any], *, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (a deadline, not a sleep standing in for an event)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def client(daemon: Daemon, *, key: str | None = None, **kwargs: Any):
    headers = {"authorization": f"Bearer {key or daemon.api_key}"} if key != "" else {}
    with httpx.Client(base_url=daemon.url, headers=headers, timeout=15, **kwargs) as c:
        yield c
