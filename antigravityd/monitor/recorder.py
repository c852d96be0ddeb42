"""Request-log write-behind: the request path hands a row over and never waits for the database.

``record(row)`` validates and queues (no I/O, never blocks). ``run()`` — a long-lived task the daemon supervises —
writes batches every ``flush_interval`` (or as soon as a batch is full). While the database is unreachable rows
stay queued; past half the queue bound they are moved to an append-only spill file in the data directory (fsynced,
size-bounded), and the spill is replayed once the database answers again. ``flush_and_close()`` at shutdown
writes what it can and spills the rest, so nothing is lost across an outage or a clean restart. A crash loses at
most the rows of one flush interval. A row is dropped only if it is malformed, arrives after close, or finds both
the queue and the spill file full — each drop increments ``antigravityd_request_log_dropped_total``.

Rows are removed from the queue only after the database committed them; a batch that is retried after an
ambiguous failure (commit done, answer lost) is harmless because the database ignores request ids it has.
"""

from __future__ import annotations

import collections
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge

from antigravityd.config import Config
from antigravityd.monitor.spill import SpillFile
from antigravityd.store import StoreError, StoreUnavailable, ValidationError
from antigravityd.store import validate as v
from antigravityd.store.base import Repository
from antigravityd.store.models import RequestRecord

__all__ = ["RequestLogWriter", "WriterStats"]

log = logging.getLogger(__name__)
DROP_LOG_INTERVAL = 10.0
SPILL_FILE_NAME = "request-log.spill"


@dataclass(slots=True)
class WriterStats:
    written: int = 0  # rows the database accepted (first time)
    spilled: int = 0  # rows moved to the spill file
    replayed: int = 0  # rows read back from the spill file and written
    dropped: int = 0
    failures: int = 0  # flush attempts that found the database unavailable
    db_ok: bool = True  # outcome of the last attempt


class RequestLogWriter:
    def __init__(
        self,
        repo: Repository,
        *,
        queue_max: int = 50_000,
        flush_interval: float = 1.0,
        spill_path: Path,
        batch_max: int = 5_000,
        spill_max_bytes: int = 512 * 1024 * 1024,
        retry_max: float = 30.0,
        close_timeout: float = 5.0,
        registry: CollectorRegistry | None = None,
        dropped: Counter | None = None,
    ) -> None:
        if queue_max < 2 or batch_max < 1 or flush_interval <= 0:
            raise ValueError("queue_max >= 2, batch_max >= 1 and flush_interval > 0 are required")
        self._repo = repo
        self.queue_max = queue_max
        self.flush_interval = flush_interval
        self.batch_max = min(batch_max, queue_max)
        self._high_water = queue_max // 2  # during an outage, rows beyond this go to the spill file
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self._spill = SpillFile(spill_path, max_bytes=spill_max_bytes)
        self._queue: collections.deque[RequestRecord] = collections.deque()
        self._wakeup = trio.Event()
        self._spill_needed = trio.Event()
        self._flush_lock = trio.Lock()  # one flush (or close) at a time
        self._spill_lock = trio.Lock()  # one spill-file operation at a time
        self._inflight = 0  # rows at the front of the queue being written right now
        self._closed = False
        self._replay_offset = 0
        self._next_drop_log = 0.0
        self.stats = WriterStats()
        registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._dropped = dropped if dropped is not None else Counter(
            "antigravityd_request_log_dropped", "Request-log rows lost (malformed, queue and spill full, or late).",
            registry=registry)
        self._spilled = Counter("antigravityd_request_log_spilled", "Request-log rows moved to the spill file.",
                                registry=registry)
        Gauge("antigravityd_request_log_queue", "Request-log rows waiting in memory.",
              registry=registry).set_function(lambda: len(self._queue))

    @classmethod
    def from_config(cls, repo: Repository, config: Config, *, registry: CollectorRegistry) -> RequestLogWriter:
        """The writer as the daemon runs it: settings from ``[database]``, spill file in the data directory."""
        return cls(repo, queue_max=config.database.request_log_queue,
                   flush_interval=config.database.request_log_flush_interval,
                   spill_path=config.data_path / SPILL_FILE_NAME, registry=registry)

    # -------------------------------------------------------------------------------------------- request path
    def record(self, row: RequestRecord) -> None:
        """Queue one row. Never blocks, never raises."""
        if self._closed:
            self._drop(1, "recorded after close")
            return
        try:
            row = v.request_record(row)
        except (ValidationError, AttributeError, TypeError) as e:
            self._drop(1, f"malformed row: {e}")
            return
        if len(self._queue) >= self.queue_max:
            self._drop(1, "queue full and the spill has not caught up")
            return
        self._queue.append(row)
        if len(self._queue) >= self.batch_max:
            self._wakeup.set()
        if len(self._queue) >= self._high_water:
            self._spill_needed.set()

    def _drop(self, n: int, why: str) -> None:
        self.stats.dropped += n
        self._dropped.inc(n)
        now = time.monotonic()
        if now >= self._next_drop_log:  # one line per interval, not one per row, when drops come in floods
            log.warning("request log: dropped %d row(s) so far; latest reason: %s", self.stats.dropped, why)
            self._next_drop_log = now + DROP_LOG_INTERVAL

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -------------------------------------------------------------------------------------------- background task
    async def run(self) -> None:
        """Flush (and spill when needed) until :meth:`flush_and_close`; returns normally then.

        Restartable: a crashed ``run()`` loses nothing it had not committed, and a new one carries on."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._spill_loop)
            await self._flush_loop()
            nursery.cancel_scope.cancel()

    async def _flush_loop(self) -> None:
        retry_delay = self.flush_interval
        next_attempt = trio.current_time()
        while not self._closed:
            with trio.move_on_after(max(next_attempt - trio.current_time(), 0.0)):
                await self._wakeup.wait()
            self._wakeup = trio.Event()
            if not self.stats.db_ok and trio.current_time() < next_attempt:
                continue  # a "batch full" wake-up during an outage: leave the database alone until the retry
            async with self._flush_lock:
                if self._closed:
                    return
                ok = await self._flush()
            retry_delay = self.flush_interval if ok else min(retry_delay * 2, self.retry_max)
            next_attempt = trio.current_time() + retry_delay

    async def _spill_loop(self) -> None:
        """Independent of the flush, which may be stuck waiting for an unreachable database meanwhile."""
        while True:
            await self._spill_needed.wait()
            self._spill_needed = trio.Event()
            if len(self._queue) >= self._high_water:
                await self._spill_tail()

    async def flush_and_close(self) -> None:
        """Write everything (within ``close_timeout``), spill what the database did not take, stop ``run()``."""
        self._wakeup.set()
        with trio.CancelScope(shield=True):
            async with self._flush_lock:
                self._closed = True
                with trio.move_on_after(self.close_timeout):
                    await self._flush()
                await self._spill_tail()

    # -------------------------------------------------------------------------------------------- internals
    async def _flush(self) -> bool:
        """Replay the spill, then write the queue. False when the database is unavailable (nothing lost)."""
        try:
            await self._replay()
            while self._queue:
                n = min(self.batch_max, len(self._queue))
                self._inflight = n  # the spiller leaves these alone while they are being written
                try:
                    written = await self._insert(list(itertools.islice(self._queue, n)))
                    self.stats.written += written
                finally:
                    self._inflight = 0
                for _ in range(n):
                    self._queue.popleft()
        except StoreUnavailable as e:
            self.stats.failures += 1
            if self.stats.db_ok:
                log.warning("request log: database unavailable, holding rows (%s)", e)
            self.stats.db_ok = False
            return False
        if not self.stats.db_ok:
            log.info("request log: database back, queue flushed")
        self.stats.db_ok = True
        return True

    async def _insert(self, batch: list[RequestRecord]) -> int:
        try:
            return await self._repo.insert_requests(batch)
        except StoreUnavailable:
            raise
        except StoreError:
            # Should not happen (rows are validated on the way in); never let one row block the queue forever.
            log.exception("request log: batch rejected; writing rows one by one")
            inserted = 0
            for row in batch:
                try:
                    n = await self._repo.insert_requests([row])
                    inserted += n
                except StoreUnavailable:
                    raise
                except StoreError:
                    self._drop(1, f"row rejected by the database: {row.request_id}")
            return inserted

    async def _replay(self) -> None:
        while True:
            async with self._spill_lock:  # never rename the file while an append is writing to it
                path = await trio.to_thread.run_sync(self._spill.start_replay)
            if path is None:
                return
            while True:
                rows, next_offset, bad = await trio.to_thread.run_sync(
                    self._spill.read_batch, self._replay_offset, self.batch_max)
                if bad:
                    self._drop(bad, f"unreadable line in {path}")
                if rows:
                    written = await self._insert(rows)
                    self.stats.written += written
                    self.stats.replayed += len(rows)
                self._replay_offset = next_offset
                if not rows and not bad:
                    break
            await trio.to_thread.run_sync(self._spill.finish_replay)
            self._replay_offset = 0
            log.info("request log: spill file replayed")

    async def _spill_tail(self) -> None:
        """Move the queued rows that are not being written right now to the spill file."""
        async with self._spill_lock:
            n = len(self._queue) - self._inflight
            if n <= 0:
                return
            # Take them out before awaiting: rows recorded meanwhile must stay in the queue.
            rows = [self._queue.pop() for _ in range(n)]
            rows.reverse()
            try:
                written = await trio.to_thread.run_sync(self._spill.append, rows)
            except OSError:
                log.exception("request log: cannot write the spill file %s", self._spill.path)
                written = 0
            self.stats.spilled += written
            self._spilled.inc(written)
            unwritten = rows[written:]
            if unwritten and self._closed:
                self._drop(len(unwritten), "spill file full or unwritable at shutdown")
            elif unwritten:
                self._queue.extend(unwritten)  # keep them in memory; the bound on record() still applies
