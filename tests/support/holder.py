"""Plays systemd for restart tests: owns ONE listening socket and starts daemon generations on it.

``restart_sequential`` is ``systemctl restart`` (stop, then start: new connections wait in the backlog);
``restart_overlap`` is the blue/green pair of units sharing one ``.socket`` (start new, wait READY, stop old).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.support.daemon import Daemon, start_daemon
from tests.support.net import listening_socket


class SocketHolder:
    def __init__(self, workdir: Path, settings: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        self.settings = {"data_dir": str(workdir / "data"), **(settings or {})}
        self.generation = 0
        self.current: Daemon | None = None
        self.exit_codes: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> Daemon:
        self.generation += 1
        return start_daemon(self.workdir / f"gen{self.generation}", settings=self.settings, listen=self.sock,
                            name=f"gen{self.generation}")

    def start(self) -> Daemon:
        self.current = self.spawn()
        return self.current

    def _stop(self, daemon: Daemon) -> None:
        self.exit_codes.append(daemon.stop(signal.SIGTERM))
        daemon.close()

    def restart_sequential(self) -> None:
        assert self.current is not None
        self._stop(self.current)
        self.current = self.spawn()

    def restart_overlap(self) -> None:
        assert self.current is not None
        old, self.current = self.current, self.spawn()
        self._stop(old)

    def close(self) -> None:
        if self.current is not None:
            self._stop(self.current)
            self.current = None
        self.sock.close()
