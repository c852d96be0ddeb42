"""Run the real daemon as a subprocess, the way systemd would: config file, environment, optionally an
inherited listening socket, and $NOTIFY_SOCKET — start-up is awaited on READY=1, never on a sleep."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tests.support.net import free_port
from tests.support.notify import NotifyListener

ACTIVATE = str(Path(__file__).with_name("activate.py"))
TEST_API_KEY = "sk-test-0123456789abcdef0123456789abcdef"


def write_config(path: Path, settings: Mapping[str, Any]) -> Path:
    doc: dict[str, Any] = {}
    for key, value in settings.items():
        head, _, tail = key.partition(".")
        if tail:
            doc.setdefault(head, {})[tail] = value
        else:
            doc[head] = value
    path.write_bytes(tomli_w.dumps(doc).encode())
    return path


@dataclass
class Daemon:
    proc: subprocess.Popen
    url: str
    api_key: str
    data_dir: Path
    log_path: Path
    notify: NotifyListener
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()


def daemon_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "antigravityd", "--config", str(config_path), "serve"]


def start_daemon(
    workdir: Path,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    listen: socket.socket | None = None,
    wait_ready: bool = True,
    ready_timeout: float = 20.0,
    name: str = "daemon",
) -> Daemon:
    """Start ``antigravityd serve``. With ``listen`` the daemon inherits that socket as fd 3 (socket activation)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    port = listen.getsockname()[1] if listen is not None else free_port()
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "server.port": port,
        "security.api_key": TEST_API_KEY,
        "log.level": "info",
    }
    values.update(settings or {})
    config_path = write_config(workdir / f"{name}.toml", values)
    notify = NotifyListener()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "ANTIGRAVITY_", "NOTIFY_"))}
    child_env.pop("DATABASE_URL", None)
    child_env.update({"NOTIFY_SOCKET": notify.address, "PYTHONUNBUFFERED": "1"})
    child_env.update(env or {})
    argv = daemon_command(config_path)
    pass_fds: tuple[int, ...] = ()
    if listen is not None:
        argv = [sys.executable, ACTIVATE, str(listen.fileno()), "http", "--", *argv]
        pass_fds = (listen.fileno(),)
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, env=child_env, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds,
                                cwd=cwd)
    host, port = values.get("server.bind", "127.0.0.1"), values["server.port"]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    daemon = Daemon(proc, url, values["security.api_key"], data_dir, log_path, notify, argv)
    if wait_ready:
        try:
            notify.wait_for("READY=1", timeout=ready_timeout)
        except TimeoutError:
            daemon.close()
            raise TimeoutError(f"daemon not ready; log:\n{daemon.logs()}") from None
    return daemon
