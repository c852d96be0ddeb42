"""A throwaway deploy target on this machine: an unprivileged user, a directory tree standing in for the
host's filesystem, our own sshd on a free loopback port (throwaway host key, key-based login only), and
fake_systemd.py owning the service's listening socket. Needs root (useradd, sshd).

Layout under ``root`` (owned by the user):
  opt/antigravityd/          AGD_ROOT: releases/, current, previous, blue, green, deploy.log
  etc/systemd/system/        the repository's unit files, paths and port rewritten into this tree
  etc/antigravityd/config.toml
  credstore/                 LoadCredential= sources (systemd's /etc/credstore)
  state/antigravityd/        STATE_DIRECTORY
  bin/                       systemctl, journalctl (stand-ins), fake_systemd.py, sandbox.py — first in PATH
  journal.jsonl, run/
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy import units

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class TargetHost:
    base: Path
    user: str
    ssh_port: int
    http_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.base / "target"

    @property
    def release_root(self) -> Path:
        return self.root / "opt" / "antigravityd"

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / "antigravityd"

    def settings(self, wheelhouse: Path, build_python: str) -> str:
        """A deploy.sh settings file for this target."""
        ssh_opts = (f"-i {self.base / 'client_key'} -o UserKnownHostsFile={self.base / 'known_hosts'} "
                    "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=10")
        return "\n".join([
            "# written by tests/deploy/target_host.py",
            "AGD_HOST=127.0.0.1",
            f"AGD_SSH_PORT={self.ssh_port}",
            f"AGD_USER={self.user}",
            f'AGD_SSH_OPTS="{ssh_opts}"',
            f"AGD_ROOT={self.release_root}",
            f"AGD_HEALTH_URL=http://127.0.0.1:{self.http_port}",
            "AGD_HEALTH_TIMEOUT=15",
            "AGD_BUILD=venv",
            "AGD_VENV_PYTHON=/usr/bin/python3",
            f"AGD_BUILD_PYTHON={build_python}",
            f'AGD_PIP_ARGS="--no-index --find-links {wheelhouse}"',
            "",
        ])

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.as_user(str(self.root / "bin" / "systemctl"), *args)

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.root / 'bin'}:/usr/bin:/bin", "HOME": str(self.base / "home"), "LANG": "C.UTF-8"}

    def as_user(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False, env=self.env,
                              user=self.user, group=self.user, extra_groups=[], cwd=self.base / "home")

    def spawn_as_user(self, *cmd: str, log: Path) -> subprocess.Popen:
        with log.open("wb") as out:
            proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=self.env, user=self.user,
                                    group=self.user, extra_groups=[], cwd=self.base / "home")
        self.processes.append(proc)
        return proc

    def user_pids(self) -> list[int]:
        """Processes still running as the throwaway user (all started by this test); zombies do not count."""
        try:
            uid = pwd.getpwnam(self.user).pw_uid
        except KeyError:
            return []
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if int(fields.get("Uid", "-1 ").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
                pids.append(int(status.parent.name))
        return pids

    def close(self) -> None:
        for proc in reversed(self.processes):  # fake systemd stops its units on SIGTERM
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pid in self.user_pids():  # stragglers, e.g. an ssh session still closing: by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not self.user_pids(), 10, "the test user's processes to end")
        subprocess.run(["userdel", self.user], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def _chown_tree(path: Path, user: str) -> None:
    subprocess.run(["chown", "-R", f"{user}:{user}", str(path)], check=True)


def install_units(target: TargetHost) -> None:
    unit_dir = target.root / "etc" / "systemd" / "system"
    for name, original in units.repo_units().items():
        text = (original.replace("/opt/antigravityd", str(target.release_root))
                .replace("/etc/antigravityd/config.toml", str(target.root / "etc" / "antigravityd" / "config.toml"))
                .replace("ListenStream=127.0.0.1:8045", f"ListenStream=127.0.0.1:{target.http_port}"))
        path = unit_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def start(api_key: str) -> TargetHost:
    """Create the user, the tree, sshd and the fake systemd. Call ``close()`` in all cases."""
    # Not under pytest's tmp_path: that is private to root, and the target user must reach its files.
    base = Path(tempfile.mkdtemp(prefix="agd-e2e-"))
    base.chmod(0o755)
    user = "agd" + secrets.token_hex(4)
    target = TargetHost(base=base, user=user, ssh_port=free_port(), http_port=free_port())
    try:
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(base / "home"), "--shell", "/bin/bash",
                        "--user-group", user], check=True, capture_output=True)
        subprocess.run(["usermod", "-p", "*", user], check=True)  # no password, but not "locked" for sshd
        root = target.root
        for d in ("home", "target/opt/antigravityd", "target/etc/antigravityd", "target/credstore",
                  "target/state", "target/run", "target/bin"):
            (base / d).mkdir(parents=True, exist_ok=True)
        for tool in ("systemctl", "journalctl", "fake_systemd.py"):
            shutil.copy2(HERE / "target" / tool, root / "bin" / tool)
        shutil.copy2(HERE / "sandbox.py", root / "bin" / "sandbox.py")
        install_units(target)
        (root / "credstore" / "antigravityd.api-key").write_text(api_key + "\n")
        (root / "credstore" / "antigravityd.api-key").chmod(0o600)
        (root / "etc" / "antigravityd" / "config.toml").write_text(
            '[security]\napi_key_file = "$CREDENTIALS_DIRECTORY/api-key"\n\n[server]\ndrain_timeout = 20\n')
        (root / "journal.jsonl").touch()
        _chown_tree(base / "home", user)
        _chown_tree(root, user)

        # sshd: our own config, host key and authorized key; the session PATH puts the stand-ins first.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "client_key")], check=True)
        keys = base / "authorized_keys"
        keys.mkdir()
        shutil.copy(base / "client_key.pub", keys / user)
        host_pub = (base / "host_key.pub").read_text().split()
        (base / "known_hosts").write_text(f"[127.0.0.1]:{target.ssh_port} {host_pub[0]} {host_pub[1]}\n")
        (base / "sshd_config").write_text("\n".join([
            f"Port {target.ssh_port}", "ListenAddress 127.0.0.1", f"HostKey {base / 'host_key'}",
            f"PidFile {base / 'sshd.pid'}", f"AuthorizedKeysFile {keys}/%u", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            f"AllowUsers {user}", "PermitRootLogin no", "LogLevel ERROR", "MaxSessions 50",
            f"SetEnv PATH={root / 'bin'}:/usr/local/bin:/usr/bin:/bin", "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with (base / "sshd.log").open("wb") as sshd_log:
            sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(base / "sshd_config")],
                                    stdout=subprocess.DEVNULL, stderr=sshd_log)
        target.processes.insert(0, sshd)  # closed last

        systemd = target.spawn_as_user("/usr/bin/python3", str(root / "bin" / "fake_systemd.py"), str(root),
                                       log=base / "fake_systemd.log")
        wait_for(lambda: port_open(target.ssh_port) or sshd.poll() is not None, 10, "sshd")
        wait_for(lambda: (root / "run" / "ready").exists() or systemd.poll() is not None, 10, "fake systemd")
        if sshd.poll() is not None or systemd.poll() is not None:
            raise RuntimeError("target did not start: " + (base / "sshd.log").read_text()
                               + (base / "fake_systemd.log").read_text())
    except BaseException:
        target.close()
        raise
    return target


def read_link(path: Path) -> str:
    """The release id a link under AGD_ROOT points at ("" when missing)."""
    return os.readlink(path).rsplit("/", 1)[-1] if path.is_symlink() else ""
