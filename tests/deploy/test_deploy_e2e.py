"""deploy.sh end to end, with the real daemon, against a local SSH target (``--build=venv``).

The target is this machine seen through our own sshd as a throwaway user, with fake_systemd.py playing
systemd: it owns the listening socket and really starts and stops the daemon slots from the repository's unit
files (ExecStartPre migrations, fd 3, READY=1, the units' seccomp sandbox). The daemon is the real one from
this tree, built into a wheel and a virtualenv by deploy.sh, plus a test-only streaming route
(tests/deploy/releases.py). Under load from 22 clients (keep-alive requests and SSE streams):

  deploy v1 → healthy; deploy v2 (adds a migration) → 0 failed requests; deploy a broken v3 (readiness
  fails) → rolled back automatically, exit 1, 0 failed requests; rollback → v1, which runs on the schema v2
  migrated; restart moves v1 to the other slot; status and logs print what they promise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from tests.deploy import releases, target_host, wheelhouse
from tests.deploy.load import LoadStats, load
from tests.deploy.target_host import TargetHost, read_link
from tests.deploy.units import REPO

DEPLOY = REPO / "deploy.sh"
API_KEY = "sk-ag-deploy-e2e-" + "x" * 24
SWITCH_STARTS = re.compile(rb"==> \w+: antigravityd@\w+\.service starts ")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a user and runs sshd"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("ssh", "rsync", "curl", "systemd-analyze", "useradd"))
                       or not Path("/usr/sbin/sshd").exists() or not Path("/usr/bin/python3").exists(),
                       reason="needs openssh-server, ssh, rsync, curl, systemd-analyze and /usr/bin/python3"),
]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wheelhouse")
    extra = [os.environ["AGD_TEST_WHEELHOUSE"]] if os.environ.get("AGD_TEST_WHEELHOUSE") else []
    try:
        wheelhouse.build(path, REPO / "pyproject.toml", extra)
    except RuntimeError as e:
        pytest.skip(f"{e} (install setuptools>=68 and wheel in the test venv, or set AGD_TEST_WHEELHOUSE)")
    path.chmod(0o755)
    return path


@pytest.fixture
def target() -> Iterator[TargetHost]:
    host = target_host.start(API_KEY)
    try:
        yield host
    finally:
        host.close()


class Deployer:
    def __init__(self, settings: Path, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url

    def _command(self, args: tuple[str, ...], source: Path | None,
                 extra_env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGD_")} | (extra_env or {})
        if source is not None:
            env["AGD_SOURCE"] = str(source)
        return [str(DEPLOY), "--config", str(self.settings), *args], env

    async def run(self, *args: str, source: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        cmd, env = self._command(args, source)
        started = trio.current_time()
        with trio.fail_after(180):
            result = await trio.run_process(cmd, env=env, capture_stdout=True, capture_stderr=True, check=False)
        print(f"deploy.sh {' '.join(args)}: {trio.current_time() - started:.1f} s")  # shown with -s or on failure
        return result

    async def run_under_load(self, *args: str, source: Path | None = None, extra_env: dict[str, str] | None = None,
                             **load_options: int) -> tuple[subprocess.CompletedProcess[bytes], LoadStats]:
        """Run deploy.sh; clients start when it announces the slot switch and stop when it has exited.

        (Not earlier: the build only competes with the clients for the two CPUs, it serves nothing.)
        """
        cmd, env = self._command(args, source, extra_env)
        started = trio.current_time()
        chunks: dict[str, list[bytes]] = {"out": [], "err": []}
        switching, exited = trio.Event(), trio.Event()
        stats = LoadStats()

        async def pump(stream: trio.abc.ReceiveStream, name: str) -> None:
            async for chunk in stream:
                chunks[name].append(chunk)
                if name == "err" and SWITCH_STARTS.search(b"".join(chunks["err"])):
                    switching.set()

        with trio.fail_after(180):
            async with trio.open_nursery() as nursery:
                proc = await nursery.start(partial(trio.run_process, cmd, env=env, check=False,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE))
                nursery.start_soon(pump, proc.stdout, "out")
                nursery.start_soon(pump, proc.stderr, "err")

                async def wait_exit() -> None:
                    await proc.wait()
                    exited.set()
                    switching.set()  # nothing to wait for any more

                nursery.start_soon(wait_exit)
                await switching.wait()
                if not exited.is_set():
                    async with load(self.base_url, **load_options) as stats:
                        await exited.wait()
        result = subprocess.CompletedProcess(cmd, proc.returncode, b"".join(chunks["out"]), b"".join(chunks["err"]))
        print(f"deploy.sh {' '.join(args)} under load: {trio.current_time() - started:.1f} s, {stats.requests} "
              f"requests, {stats.streams} streams, {len(stats.failures)} failures")
        return result, stats


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode() + result.stderr.decode()


async def served_revision(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        assert (await client.get("/api/health")).status_code == 200
        return (await client.get("/version")).json()["git_revision"]


def serving_slot(target: TargetHost) -> str:
    states = {slot: target.systemctl("is-active", f"antigravityd@{slot}.service").stdout.strip()
              for slot in ("blue", "green")}
    active = [slot for slot, state in states.items() if state == "active"]
    assert len(active) == 1, states
    return active[0]


def main_pid(target: TargetHost, slot: str) -> int:
    return int(target.systemctl("show", "-p", "MainPID", "--value", f"antigravityd@{slot}.service").stdout)


def tables(state_dir: Path) -> set[str]:
    """Every table of every SQLite database in the state directory."""
    names: set[str] = set()
    for path in [*state_dir.rglob("*.sqlite3"), *state_dir.rglob("*.db")]:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            names |= {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    return names


async def test_deploy_under_load_rollback_status_and_logs(tmp_path: Path, wheels: Path, target: TargetHost) -> None:
    settings = tmp_path / "deploy.conf"
    settings.write_text(target.settings(wheels, sys.executable))
    base_url = f"http://127.0.0.1:{target.http_port}"
    deployer = Deployer(settings, base_url)
    links = target.release_root
    rev1 = releases.make_source(tmp_path / "v1", "v1")
    rev2 = releases.make_source(tmp_path / "v2", "v2: adds a migration", with_migration=True)
    rev3 = releases.make_source(tmp_path / "v3", "v3: readiness broken", with_migration=True, broken=True)
    assert len({rev1, rev2, rev3}) == 3

    # -- deploy v1 onto an empty host: the blue slot starts, migrates, serves.
    result = await deployer.run("deploy", source=tmp_path / "v1")
    assert result.returncode == 0, out(result)
    assert await served_revision(base_url) == rev1
    v1 = read_link(links / "current")
    assert v1.endswith(rev1) and read_link(links / "previous") == ""
    assert serving_slot(target) == "blue"
    # The daemon runs inside the unit's seccomp sandbox (fake systemd applies it as systemd would).
    status = Path(f"/proc/{main_pid(target, 'blue')}/status").read_text()
    assert "\nSeccomp:\t2\n" in status and "\nNoNewPrivs:\t1\n" in status

    # -- deploy v2 under load: green starts next to blue, then blue drains. Nothing fails.
    result, stats = await deployer.run_under_load("deploy", source=tmp_path / "v2")
    assert result.returncode == 0, out(result)
    assert stats.failures == [], stats.failures[:10]
    assert stats.requests > 100 and stats.streams > 10, stats
    assert await served_revision(base_url) == rev2
    v2 = read_link(links / "current")
    assert v2.endswith(rev2) and read_link(links / "previous") == v1
    assert serving_slot(target) == "green"
    assert releases.MIGRATION_TABLE in tables(target.state_dir)

    # -- deploy the broken v3 under load: it starts (READY=1) but /api/health says 503, so it is stopped
    #    again and v2 keeps serving; deploy.sh exits 1. Nothing fails for the clients.
    # (A shorter health timeout: a broken build burns all of it, and the settings file allows 15 s.)
    result, stats = await deployer.run_under_load("deploy", source=tmp_path / "v3",
                                                  extra_env={"AGD_HEALTH_TIMEOUT": "5"})
    assert result.returncode == 1, out(result)
    assert "FAILED" in out(result) and "rolling back" in out(result)
    # The readiness reason reaches the operator (unless no probe happened to land on the new process).
    assert "broken on purpose" in out(result) or "no answer from the new slot" in out(result), out(result)
    assert stats.failures == [], stats.failures[:10]
    assert stats.requests > 50, stats
    assert await served_revision(base_url) == rev2
    assert read_link(links / "current") == v2 and read_link(links / "previous") == v1
    assert serving_slot(target) == "green"
    assert read_link(links / "blue") == v2  # the idle slot points at the current release again
    log_lines = (links / "deploy.log").read_text().splitlines()
    assert " FAILED " in log_lines[-1] and rev3 in log_lines[-1]

    # -- rollback to v1, under load. v1 runs on the schema v2 migrated (migrations are backward compatible).
    result, stats = await deployer.run_under_load("rollback")
    assert result.returncode == 0, out(result)
    assert stats.failures == [], stats.failures[:10]
    assert await served_revision(base_url) == rev1
    assert read_link(links / "current") == v1 and read_link(links / "previous") == v2
    assert serving_slot(target) == "blue"
    assert releases.MIGRATION_TABLE in tables(target.state_dir)  # v2's change is still there, v1 is healthy

    # -- restart (after a config or secret change): the same release moves to the other slot, nothing fails.
    result, stats = await deployer.run_under_load("restart", keepalive=6, streams=4)
    assert result.returncode == 0, out(result)
    assert stats.failures == [], stats.failures[:10]
    assert await served_revision(base_url) == rev1
    assert read_link(links / "current") == v1 and read_link(links / "previous") == v2
    assert serving_slot(target) == "green"

    # -- status: serving slot, releases, health, recent deploys.
    result = await deployer.run("status")
    text = out(result)
    assert result.returncode == 0, text
    assert f"current:   {v1}" in text and f"previous:  {v2}" in text
    assert f"green active (pid {main_pid(target, 'green')}) running {v1}  <- serving" in text
    assert f"blue  inactive, next start runs {v1}" in text
    assert "/api/health  200" in text and rev1 in text
    assert f"rollback {v1} ok green->blue" in text and f"restart {v1} ok blue->green" in text and "FAILED" in text

    # -- logs: the daemon's own lines and systemd's, for both slots; -f follows.
    result = await deployer.run("logs", "-n", "100000")
    text = out(result)
    assert result.returncode == 0, text
    assert "Started antigravityd@blue.service." in text and "Stopped antigravityd@blue.service." in text
    assert "Started antigravityd@green.service." in text and "Stopped antigravityd@green.service." in text
    assert "serving on" in text and "(socket-activated)" in text
    await check_logs_follow(settings, target)


async def check_logs_follow(settings: Path, target: TargetHost) -> None:
    """``logs -f`` keeps streaming: a line logged after it started shows up."""
    proc = await trio.lowlevel.open_process([str(DEPLOY), "--config", str(settings), "logs", "-n", "1", "-f"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
    try:
        seen = b""
        with trio.fail_after(30):
            while b"\n" not in seen:  # the one old line: the follower is running
                seen += await proc.stdout.receive_some(65536)
            async with httpx.AsyncClient(timeout=10) as client:
                await client.get(f"http://127.0.0.1:{target.http_port}/version?after-follow")
            while b"GET /version 200" not in seen.split(b"\n", 1)[1]:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, "logs -f ended"
                seen += chunk
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # deploy.sh and its ssh, by process group
        with trio.move_on_after(10):
            await proc.wait()
        await proc.stdout.aclose()
