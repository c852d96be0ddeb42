"""Shared fixtures. Component-specific fixtures live next to their tests (tests/<area>/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, start_daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon on the embedded default (SQLite in a temp data dir), bound to a free loopback port."""
    d = start_daemon(tmp_path / "daemon")
    try:
        yield d
    finally:
        d.close()
