"""``accounts add`` (email from Google), ``login``, ``refresh-quota``, ``warmup`` as real subprocesses against a
temporary data dir and the fake upstream (served by this test process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.support.daemon import write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, fake, data_dir):
    config = write_config(tmp_path / "config.toml", {
        "data_dir": str(data_dir),
        "upstream.base_urls": [fake.base_url],
        "oauth.client_id": fake.client_id,
        "oauth.client_secret": fake.client_secret,
        "oauth.token_url": fake.token_url,
        "oauth.userinfo_url": fake.userinfo_url,
        "oauth.auth_url": fake.auth_url,
    })
    out = {k: v for k, v in os.environ.items() if not k.startswith("ANTIGRAVITY_") and k != "DATABASE_URL"}
    out.update(PYTHONPATH=str(ROOT), ANTIGRAVITY_CONFIG=str(config))
    return out


class Cli:
    def __init__(self, env: dict[str, str], fake) -> None:
        self.env = env
        self.fake = fake
        self.outputs: list[str] = []

    async def __call__(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
        proc = await trio.run_process([sys.executable, "-m", "antigravityd", *args], env=self.env, stdin=stdin,
                                      capture_stdout=True, capture_stderr=True, check=False)
        proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def assert_no_secrets(self) -> None:
        secrets = [t for a in self.fake.state.accounts.values() for t in (a.refresh_token, a.access_token)]
        secrets += [*self.fake.state.refresh_tokens, self.fake.client_secret]
        for out in self.outputs:
            assert not any(s in out for s in secrets), out


@pytest.fixture
async def cli(env, fake):
    runner = Cli(env, fake)
    yield runner
    runner.assert_no_secrets()


async def test_add_without_email_asks_google(cli, fake, repo):
    a = fake.add_account("cli.user@example.com", name="Cli User")
    proc = await cli("accounts", "add", "--refresh-token", a.refresh_token)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("added cli.user@example.com (")
    account = await repo.get_account_by_email("cli.user@example.com")
    assert account.name == "Cli User"
    assert (await repo.get_quota(account.id)).models  # project discovered, quota fetched

    b = fake.add_account("stdin.user@example.com")
    proc = await cli("accounts", "add", "--refresh-token", "-", stdin=b.refresh_token.encode() + b"\n")
    assert proc.returncode == 0 and "added stdin.user@example.com" in proc.stdout

    fake.revoke(b.refresh_token)
    proc = await cli("accounts", "add", "--refresh-token", b.refresh_token)
    assert proc.returncode == 2 and "invalid_grant" in proc.stderr


async def test_login_with_pasted_callback(cli, env, fake, repo):
    fake.state.default_login_email = "headless@example.com"
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "antigravityd", "accounts", "login"], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        with trio.fail_after(30):
            while b"press Enter" not in seen:
                chunk = await proc.stdout.receive_some()
                assert chunk, seen
                seen += chunk
        url = next(line.strip() for line in seen.decode().splitlines() if line.strip().startswith("http"))
        assert "code_challenge=" in url and "state=" in url
        async with httpx.AsyncClient() as browser:  # the redirect target may not even exist: stop at the 302
            location = (await browser.get(url)).headers["location"]
        assert location.startswith("http://127.0.0.1:8045/api/oauth/callback?")
        await proc.stdin.send_all(location.encode() + b"\n")
        await proc.stdin.aclose()
        rest = err = b""
        with trio.fail_after(30):
            while chunk := await proc.stdout.receive_some():
                rest += chunk
            while chunk := await proc.stderr.receive_some():
                err += chunk
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    cli.outputs.append((seen + rest + err).decode())
    assert proc.returncode == 0, err
    assert rest.decode().strip().startswith("added headless@example.com (")
    assert (await repo.get_account_by_email("headless@example.com")).id in rest.decode()


async def test_login_rejects_a_foreign_state(cli, fake):
    proc = await cli("accounts", "login", stdin=b"http://127.0.0.1:8045/api/oauth/callback?state=forged&code=4/x\n")
    assert proc.returncode == 2 and "does not match" in proc.stderr


async def test_refresh_quota_and_warmup_commands(cli, fake, repo):
    a = fake.add_account("q1@example.com")
    b = fake.add_account("q2@example.com")
    for acct in (a, b):
        assert (await cli("accounts", "add", "--refresh-token", acct.refresh_token)).returncode == 0
    fake.set_quota("q1@example.com", "gemini-3-flash", remaining_fraction=0.42)
    fetched = fake.stats.count(rpc="fetchAvailableModels")

    proc = await cli("accounts", "refresh-quota", "q1@example.com")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("gemini-3-flash "))
    assert "42 %" in line and "resets 20" in line
    proc = await cli("accounts", "refresh-quota", "--all")
    assert proc.returncode == 0 and "refreshed 2 of 2 accounts (0 failed)" in proc.stdout
    assert fake.stats.count(rpc="fetchAvailableModels") == fetched + 3
    account = await repo.get_account_by_email("q1@example.com")
    assert (await repo.get_quota(account.id)).models["gemini-3-flash"].remaining_fraction == 0.42

    proc = await cli("accounts", "warmup", account.id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("q1@example.com: warmed ") and "skipped gemini-3-flash: at 42 %" in proc.stdout
    warmed = fake.stats.count("q1@example.com", "generateContent")
    assert warmed == len(proc.stdout.splitlines()[0].split(": warmed ")[1].split(", ")) > 0
    proc = await cli("accounts", "warmup", "--all", "--json")
    assert proc.returncode == 0
    assert fake.stats.count("q1@example.com", "generateContent") == warmed  # q1 was warmed a moment ago
    assert fake.stats.count("q2@example.com", "generateContent") > 0

    for args, code in ((("accounts", "refresh-quota"), 2), (("accounts", "warmup", "x@y.z", "--all"), 2),
                       (("accounts", "refresh-quota", "nobody@example.com"), 1)):
        proc = await cli(*args)
        assert proc.returncode == code, (args, proc.stderr)
