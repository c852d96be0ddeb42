"""deploy.sh without a target: shellcheck, --help, settings precedence, and --dry-run plans (every local and
remote command printed, nothing executed — the tools it would call are booby-trapped)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.units import REPO

DEPLOY = REPO / "deploy.sh"
TOOLS = ("ssh", "rsync", "nix", "nix-store", "curl", "systemctl", "journalctl", "pip", "python3")


@pytest.fixture
def trapped_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH where every tool deploy.sh could run remotely or to build records its use."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool in TOOLS:
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit 99\n')
        stub.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin", calls


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([str(DEPLOY), *args], capture_output=True, text=True, timeout=60, check=False,
                          env=base | (env or {}), cwd=cwd or REPO)


def plan(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("[")]


def index_of(lines: list[str], pattern: str) -> int:
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matches {pattern!r} in:\n" + "\n".join(lines))


def test_shellcheck_is_clean() -> None:
    result = subprocess.run(["shellcheck", "--severity=style", str(DEPLOY)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout


def test_help_documents_every_command_and_setting() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("deploy", "rollback", "restart", "status", "logs [-n N] [-f]", "deploy-local", "--dry-run",
                 "--build=nix|venv", "AGD_HOST", "AGD_ROOT", "AGD_HEALTH_URL", "AGD_SUDO", "AGD_PIP_ARGS"):
        assert word in result.stdout, word


@pytest.mark.parametrize(("args", "message"), [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["status"], "no target host"),
    (["--build=docker", "status"], "AGD_BUILD must be nix or venv"),
    (["--host", "h", "logs", "-n", "many"], "-n needs a number"),
    (["--host", "h", "status", "extra"], "status takes no arguments"),
])
def test_bad_invocations_fail_with_a_clear_message(args: list[str], message: str) -> None:
    result = run("--dry-run", *args)
    assert result.returncode != 0 and message in result.stderr


def test_venv_deploy_dry_run_prints_the_whole_plan_and_runs_nothing(trapped_path: tuple[str, Path]) -> None:
    path, calls = trapped_path
    result = run("--dry-run", "--build=venv", "deploy",
                 env={"PATH": path, "AGD_HOST": "vps.example", "AGD_USER": "ops", "AGD_SUDO": "sudo -n",
                      "AGD_ROOT": "/srv/agd", "AGD_BUILD_PYTHON": "python3"})
    assert result.returncode == 0, result.stderr
    assert not calls.exists(), calls.read_text()
    lines = plan(result)
    steps = [
        r"^\[local\] python3 -m pip wheel .* -w \S+/wheels ",
        r"^\[local\] /usr/bin/python3 -m venv --without-pip \S+/release/venv$",
        r"^\[local\] python3 -m pip --python \S+/release/venv/bin/python install ",
        r"^\[ops@vps.example\] sudo -n mkdir /srv/agd/\.deploy\.lock$",
        r"^\[local\] rsync -a '--rsync-path=sudo -n rsync' -e 'ssh -p 22 .*' \S+/release/ "
        r"ops@vps\.example:/srv/agd/releases/\d{8}T\d{6}Z-[^/]+/$",
        r"sudo -n /srv/agd/releases/\S+/venv/bin/python -m compileall",
        r"systemctl is-active antigravityd@blue\.service antigravityd@green\.service$",
        r"^\[ops@vps.example\] /srv/agd/releases/\S+/bin/antigravityd version$",
        r"sudo -n ln -sfn /srv/agd/releases/\S+ /srv/agd/green\.next$",
        r"sudo -n mv -Tf /srv/agd/green\.next /srv/agd/green$",
        r"sudo -n systemctl start antigravityd@green\.service$",
        r"curl -sS -m 5 .* http://127\.0\.0\.1:8045/version http://127\.0\.0\.1:8045/api/health$",
        r"sudo -n mv -Tf /srv/agd/current\.next /srv/agd/current$",
        r"sudo -n mv -Tf /srv/agd/previous\.next /srv/agd/previous$",
        r"sudo -n systemctl stop antigravityd@blue\.service$",
        r"sudo -n mv -Tf /srv/agd/blue\.next /srv/agd/blue$",
        r">> \"\$2\"' sh '\S+ deploy \S+ ok blue->green by .*' /srv/agd/deploy\.log$",
        r"sudo -n rmdir /srv/agd/\.deploy\.lock$",
    ]
    positions = [index_of(lines, step) for step in steps]
    assert positions == sorted(positions), "steps out of order"
    # The probe is the only command that does not need root.
    assert not any("sudo" in line for line in lines if "curl" in line)


def test_nix_deploy_dry_run(trapped_path: tuple[str, Path]) -> None:
    path, calls = trapped_path
    result = run("--dry-run", "deploy", env={"PATH": path, "AGD_HOST": "vps.example", "AGD_SSH_PORT": "2222"})
    assert result.returncode == 0, result.stderr
    assert not calls.exists()
    lines = plan(result)
    build = index_of(lines, r"^\[local\] nix .* build --no-link --print-out-paths '\S+#default'$")
    lock = index_of(lines, r"mkdir /opt/antigravityd/\.deploy\.lock$")
    copy = index_of(lines, r"^\[local\] env 'NIX_SSHOPTS=-p 2222 .*' nix .* copy --to ssh://root@vps\.example ")
    root = index_of(lines, r"^\[root@vps\.example\] nix-store --add-root /opt/antigravityd/releases/\S+ --realise ")
    start = index_of(lines, r"systemctl start antigravityd@green\.service$")
    assert build < lock < copy < root < start


def test_rollback_restart_status_logs_dry_run(trapped_path: tuple[str, Path]) -> None:
    path, calls = trapped_path
    env = {"PATH": path, "AGD_HOST": "h"}
    rollback = plan(run("--dry-run", "rollback", env=env))
    assert index_of(rollback, r"readlink /opt/antigravityd/previous$") < index_of(
        rollback, r"systemctl start antigravityd@green\.service$") < index_of(
        rollback, r"mv -Tf /opt/antigravityd/current\.next /opt/antigravityd/current$")
    assert any(" rollback {previous} ok blue->green" in line for line in rollback)
    restart = plan(run("--dry-run", "restart", env=env))
    assert any("ln -sfn '/opt/antigravityd/releases/{current}' /opt/antigravityd/green.next" in x for x in restart)
    status = run("--dry-run", "status", env=env)
    assert "current:" in status.stdout and "recent deploys" in status.stdout
    for pattern in (r"systemctl is-active antigravityd@blue\.service$", r"curl .* http://127\.0\.0\.1:8045/api/health$",
                    r"tail -n 10 /opt/antigravityd/deploy\.log$"):
        index_of(plan(status), pattern)
    logs = plan(run("--dry-run", "logs", "-n", "7", "-f", env=env))
    assert logs == ["[root@h] journalctl -u 'antigravityd@*.service' -u antigravityd.service "
                    "-u antigravityd.socket --no-pager -n 7 -f"]
    assert not calls.exists()


def test_deploy_local_dry_run_uses_no_ssh(trapped_path: tuple[str, Path]) -> None:
    path, calls = trapped_path
    result = run("--dry-run", "--build", "venv", "deploy-local", env={"PATH": path})
    assert result.returncode == 0, result.stderr
    lines = plan(result)
    assert all(line.startswith("[local] ") for line in lines)
    index_of(lines, r"^\[local\] rsync -a \S+/release/ /opt/antigravityd/releases/\S+/$")
    assert not any("ssh" in line for line in lines)
    assert not calls.exists()


def test_settings_file_environment_and_flags(tmp_path: Path, trapped_path: tuple[str, Path]) -> None:
    path, _ = trapped_path
    conf = tmp_path / "deploy.conf"
    conf.write_text('# target\nAGD_HOST="file-host"\nAGD_USER=fileuser\nAGD_ROOT=\'/srv/from file\'\n\n'
                    "AGD_HEALTH_URL=http://[::1]:9000/\n")
    result = run("--dry-run", "--config", str(conf), "logs", env={"PATH": path, "AGD_USER": "envuser"})
    assert plan(result)[0].startswith("[envuser@file-host] journalctl")  # environment wins over the file
    result = run("--dry-run", "--config", str(conf), "--user", "flaguser", "status", env={"PATH": path})
    lines = plan(result)
    assert lines[0] == "[flaguser@file-host] readlink '/srv/from file/current'"
    index_of(lines, r"curl .* 'http://\[::1\]:9000/health'$")
    # ./deploy.conf is picked up from the working directory
    (tmp_path / "deploy.conf").write_text("AGD_HOST=cwd-host\n")
    assert plan(run("--dry-run", "logs", env={"PATH": path}, cwd=tmp_path))[0].startswith("[root@cwd-host]")
    conf.write_text("AGD_HOST=x\nAGD_TYPO=1\n")
    bad = run("--dry-run", "--config", str(conf), "status", env={"PATH": path})
    assert bad.returncode != 0 and "deploy.conf:2: unknown setting AGD_TYPO" in bad.stderr
