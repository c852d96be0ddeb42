from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from antigravityd.upstream.client import ClientSettings, CloudCodeClient, make_http_client
from tests.fake_upstream import FakeUpstream, run_fake_upstream

UA = "antigravity/1.115.0 linux/amd64"


def settings_for(*bases: str, **kw) -> ClientSettings:
    return ClientSettings(base_urls=bases, user_agent=UA, client_version="1.115.0", **kw)


def client_for(*bases: str, clock=None, **kw) -> CloudCodeClient:
    settings = settings_for(*bases, **kw)
    if clock is None:
        return CloudCodeClient(settings, make_http_client(settings, verify=False))
    return CloudCodeClient(settings, make_http_client(settings, verify=False), clock=clock)


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1internal"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with run_fake_upstream() as server:
        yield server
    assert not server.internal_errors, server.internal_errors[0]


@pytest.fixture
async def client(fake) -> AsyncIterator[CloudCodeClient]:
    c = client_for(fake.base_url)
    try:
        yield c
    finally:
        await c.http.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, verify=False) as c:
        yield c


@pytest.fixture
def alice(fake):
    return fake.add_account("alice@example.com")
