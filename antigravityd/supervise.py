"""Supervised background tasks: a crash is logged, counted and restarted with capped exponential backoff.

A background task (token refresher, quota scheduler, request-log flusher, mapping sync …) must never take the
server down, and shutdown must cancel it cleanly. Each task is a zero-argument coroutine function that runs
until cancelled; returning normally means it has nothing more to do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

__all__ = ["Supervisor", "TaskState"]

log = logging.getLogger("antigravityd.supervise")


@dataclass(slots=True)
class TaskState:
    name: str
    running: bool = False
    crashes: int = 0
    last_error: str = ""
    restarts_at: float | None = None


@dataclass
class Supervisor:
    nursery: trio.Nursery
    on_crash: Callable[[str], None] = lambda name: None
    min_backoff: float = 1.0
    max_backoff: float = 60.0
    healthy_after: float = 60.0  # a run this long resets the backoff
    tasks: dict[str, TaskState] = field(default_factory=dict)

    def start(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        if name in self.tasks:
            raise ValueError(f"task {name!r} already supervised")
        state = self.tasks[name] = TaskState(name)
        self.nursery.start_soon(self._run, state, fn, name=f"supervised:{name}")

    async def _run(self, state: TaskState, fn: Callable[[], Awaitable[None]]) -> None:
        backoff = self.min_backoff
        while True:
            started = trio.current_time()
            state.running, state.restarts_at = True, None
            try:
                await fn()
            except Exception as e:
                state.running = False
                state.crashes += 1
                state.last_error = type(e).__name__
                self.on_crash(state.name)
                if trio.current_time() - started >= self.healthy_after:
                    backoff = self.min_backoff
                log.exception("background task %s crashed; restarting in %.1fs", state.name, backoff,
                              extra={"TASK": state.name})
                state.restarts_at = trio.current_time() + backoff
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            state.running = False
            log.info("background task %s finished", state.name, extra={"TASK": state.name})
            return
