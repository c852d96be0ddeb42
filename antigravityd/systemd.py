"""systemd integration without a C dependency: socket activation, sd_notify and the watchdog interval.

sd_notify is fifteen lines of datagram socket code (sd_notify(3)); ``LISTEN_FDS`` parsing follows
sd_listen_fds(3), including the parts systemd-python gets wrong for us: it does not clear ``os.environ``
(children would inherit the variables) and does not check that an inherited fd is a listening stream socket
(stack-notes §6, §10, pitfall 8). Journal logging lives in ``logs.py``.
"""

from __future__ import annotations

import os
import socket

__all__ = ["listen_fds", "notify", "watchdog_interval"]

SD_LISTEN_FDS_START = 3
_LISTEN_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class ActivationError(RuntimeError):
    """systemd passed something we cannot serve on (e.g. a connected socket from ``Accept=yes``)."""


def listen_fds(environ: dict[str, str] | None = None) -> list[tuple[str, socket.socket]]:
    """Sockets passed by systemd, as ``(name, socket)``; empty when we were not socket-activated.

    The ``LISTEN_*`` variables are removed from the environment either way, so that processes we start do not
    believe the sockets are theirs.
    """
    env = os.environ if environ is None else environ
    values = {k: env.pop(k, None) for k in _LISTEN_VARS}
    try:
        pid, count = int(values["LISTEN_PID"] or ""), int(values["LISTEN_FDS"] or "")
    except ValueError:
        return []
    if pid != os.getpid() or count <= 0:
        return []  # variables leaked from a parent: not for us
    names = (values["LISTEN_FDNAMES"] or "").split(":")
    result = []
    for i, fd in enumerate(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count)):
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ActivationError(f"fd {fd} is not a listening stream socket (is Accept=yes set?)")
        sock.setblocking(False)
        result.append((names[i] if i < len(names) and names[i] else f"fd{fd}", sock))
    return result


def notify(*lines: str) -> bool:
    """Send ``lines`` (e.g. ``"READY=1"``, ``"STATUS=…"``) to systemd; a no-op without ``$NOTIFY_SOCKET``."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    elif address[0] != "/":
        return False  # vsock and other address families are not used by our units
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        # Never block the event loop: a receiver that stopped reading (a full datagram queue) loses this message
        # instead of freezing the daemon (EAGAIN is an OSError).
        sock.setblocking(False)
        try:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec``), or None when no watchdog is armed."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec:
        return None
    try:
        if pid and int(pid) != os.getpid():
            return None
        return int(usec) / 1e6 / 2
    except ValueError:
        return None
