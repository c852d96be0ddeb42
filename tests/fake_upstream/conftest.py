from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fake_upstream import FakeUpstream, run_fake_upstream


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with run_fake_upstream() as server:
        yield server
    assert not server.internal_errors, server.internal_errors[0]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Plain HTTP on loopback only: skip loading the CA bundle (~100 ms per client).
    async with httpx.AsyncClient(timeout=10, verify=False) as client:
        yield client


@pytest.fixture
def alice(fake: FakeUpstream):
    return fake.add_account("alice@example.com")
