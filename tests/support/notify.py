"""A stand-in for systemd's notification socket: tests read what the daemon sends to $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import time


class NotifyListener:
    def __init__(self) -> None:
        self.name = f"agd-test-notify-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.messages: list[str] = []

    @property
    def address(self) -> str:
        return "@" + self.name

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536).decode()
        except TimeoutError:
            return None
        self.messages.append(data)
        return data

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        """Block until a message containing ``needle`` arrives (the daemon's own signal, not a sleep)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and needle in message.split("\n"):
                return message
            if message is not None and any(line.startswith(needle) for line in message.split("\n")):
                return message
        raise TimeoutError(f"no {needle!r} within {timeout}s; got {self.messages!r}")

    def close(self) -> None:
        self.sock.close()
