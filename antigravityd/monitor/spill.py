"""The request log's spill file: rows the database could not take yet, one JSON object per line.

Append-only while spilling; replayed by renaming it aside first (``<name>.replaying``), so new spills never mix
with a replay in progress. A replay interrupted by a crash simply starts again: the database ignores request ids
it already has. A torn last line (crash during a write) is skipped and counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import orjson

from antigravityd.store.models import RequestRecord

__all__ = ["SpillFile"]


def encode(row: RequestRecord) -> bytes:
    return orjson.dumps(asdict(row)) + b"\n"


def decode(line: bytes) -> RequestRecord:
    data = orjson.loads(line)
    data["ts"] = datetime.fromisoformat(data["ts"])
    return RequestRecord(**data)


class SpillFile:
    """Blocking file operations; the writer calls them through ``trio.to_thread``."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.replaying = path.with_name(path.name + ".replaying")
        self.max_bytes = max_bytes

    def pending(self) -> bool:
        return self.path.exists() or self.replaying.exists()

    def size(self) -> int:
        return sum(p.stat().st_size for p in (self.path, self.replaying) if p.exists())

    def append(self, rows: Sequence[RequestRecord]) -> int:
        """Append as many rows as the size bound allows (fsynced); return how many were written."""
        room = self.max_bytes - self.size()
        chunk = bytearray()
        written = 0
        for row in rows:
            line = encode(row)
            if len(chunk) + len(line) > room:
                break
            chunk += line
            written += 1
        if chunk:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
        return written

    def start_replay(self) -> Path | None:
        """The file to replay: a replay left unfinished, else the current spill moved aside."""
        if self.replaying.exists():
            return self.replaying
        if self.path.exists():
            os.replace(self.path, self.replaying)
            return self.replaying
        return None

    def read_batch(self, offset: int, limit: int) -> tuple[list[RequestRecord], int, int]:
        """Up to ``limit`` rows from byte ``offset``: (rows, next offset, torn/corrupt lines skipped)."""
        rows: list[RequestRecord] = []
        bad = 0
        with self.replaying.open("rb") as f:
            f.seek(offset)
            while len(rows) < limit:
                line = f.readline()
                if not line:
                    break
                if not line.endswith(b"\n"):  # torn write at the end: nothing after it
                    bad += 1
                    offset = f.tell()
                    break
                offset = f.tell()
                try:
                    rows.append(decode(line))
                except (ValueError, TypeError, KeyError):
                    bad += 1
        return rows, offset, bad

    def finish_replay(self) -> None:
        self.replaying.unlink(missing_ok=True)

    def iter_all(self) -> Iterator[RequestRecord]:
        """Every row still on disk (tests and diagnostics)."""
        for p in (self.replaying, self.path):
            if p.exists():
                for line in p.read_bytes().splitlines():
                    try:
                        yield decode(line)
                    except (ValueError, TypeError, KeyError):
                        continue
