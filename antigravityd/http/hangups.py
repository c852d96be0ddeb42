"""Noticing that a client hung up while its handler runs, with one task for the whole server.

A handler that streams from upstream must stop the moment its client goes away, not when a write finally
fails (stack-notes §3, pitfall 6). A watcher task per request that keeps reading the socket does that, but each
costs a task, a nursery, a pending read and a few kilobytes for as long as the request runs — most of the
memory of an open stream. On Linux, one private epoll instance, registered for ``EPOLLRDHUP`` only (the peer
closed or reset; arriving data does *not* wake it, so pipelined bytes simply wait in the kernel), watches every
running handler's socket, and a single task waits on it. Other platforms keep the per-request watcher
(``HangupMonitor.available`` is False there).
"""

from __future__ import annotations

import select
from collections.abc import Callable
from contextlib import suppress

import trio

__all__ = ["HangupMonitor"]


class HangupMonitor:
    available = hasattr(select, "epoll") and hasattr(select, "EPOLLRDHUP")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}

    def watch(self, fd: int, on_hangup: Callable[[], None]) -> None:
        """Call ``on_hangup`` (once) if the peer of ``fd`` closes or resets the connection before ``unwatch``."""
        # Level-triggered: a peer that hung up before we registered is reported at once.
        self._epoll.register(fd, select.EPOLLRDHUP)
        self._callbacks[fd] = on_hangup

    def unwatch(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            with suppress(OSError):  # already gone from the set if the socket was closed meanwhile
                self._epoll.unregister(fd)

    async def run(self) -> None:
        """Wait for hang-ups until cancelled; closes the epoll instance on the way out."""
        try:
            while True:
                await trio.lowlevel.wait_readable(self._epoll)
                for fd, _ in self._epoll.poll(0):
                    callback = self._callbacks.pop(fd, None)
                    if callback is not None:
                        # Unregister now: the condition persists, and level-triggered epoll would repeat it.
                        self._epoll.unregister(fd)
                        callback()
        finally:
            self._epoll.close()

    @property
    def watched(self) -> int:
        return len(self._callbacks)
