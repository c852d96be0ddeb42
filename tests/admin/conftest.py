"""Fixtures: one fake upstream per session and one daemon per test module; tests that must not share state
(brute-force blocks, sync pairs, exact counts) start their own daemons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin.harness import FakeProcess, start_admin_daemon, start_fake
from tests.support.daemon import Daemon


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProcess]:
    f = start_fake(tmp_path_factory.mktemp("fake"))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def admin_daemon(fake: FakeProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_admin_daemon(tmp_path_factory.mktemp("admin") / "daemon", fake)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
