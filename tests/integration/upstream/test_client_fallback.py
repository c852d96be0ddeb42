"""Base-URL fallback (§1.2, §13 #1) with two fake hosts serving one backend (shared accounts and tokens)."""

from __future__ import annotations

import pytest

from antigravityd.outcomes import FailureKind
from antigravityd.upstream.errors import UpstreamError
from tests.fake_upstream import run_fake_upstream
from tests.integration.upstream.conftest import client_for, closed_port_url
from tests.integration.upstream.test_client_generate import collect, envelope, text_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_client(*bases, clock=None, **kw):
    return client_for(*bases, clock=clock, **kw)  # ``clock`` drives the base-health memory only


async def test_503_on_the_first_host_falls_back_to_the_second(fake, alice):
    async with run_fake_upstream(state=fake.state) as prod:
        fake.inject("capacity", times=None)
        client = make_client(fake.base_url, prod.base_url)
        try:
            events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "hi"))
            assert text_of(events) == "Echo: hi" and stream.base_url == prod.base_url
            assert fake.stats.count(rpc="streamGenerateContent") == 1
            assert prod.stats.count(rpc="streamGenerateContent") == 1
            # capacity is about a model on that host, not the host: it stays first in line
            assert client.base_order() == [fake.base_url, prod.base_url]
        finally:
            await client.http.aclose()


async def test_refused_connection_falls_back_and_demotes_the_host(fake, alice):
    dead = closed_port_url()
    clock = FakeClock()
    client = make_client(dead, fake.base_url, clock=clock, base_cooldown=30)
    try:
        response = await client.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
        assert response["candidates"][0]["content"]["parts"][0]["text"] == "Echo: hi"
        assert client.base_order() == [fake.base_url, dead]
        await client.count_tokens(alice.access_token, {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
        clock.now = 31.0  # cooldown over: the configured order is back
        assert client.base_order() == [dead, fake.base_url]
    finally:
        await client.http.aclose()


async def test_500_demotes_and_success_restores(fake, alice):
    async with run_fake_upstream(state=fake.state) as prod:
        clock = FakeClock()
        client = make_client(fake.base_url, prod.base_url, clock=clock)
        try:
            fake.inject("server_error")
            await client.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
            assert client.base_order() == [prod.base_url, fake.base_url]
            await client.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
            assert fake.stats.count(rpc="generateContent") == 1  # the demoted host was not asked again
            assert prod.stats.count(rpc="generateContent") == 2
        finally:
            await client.http.aclose()


@pytest.mark.parametrize(("kind", "moves_on"), [
    ("rate_limit", True), ("quota_exhausted", True), ("not_found", True), ("unavailable", True),
    ("server_error", True), ("unauthenticated", False), ("verification_required", False),
])
async def test_which_statuses_move_on(fake, alice, kind, moves_on):
    async with run_fake_upstream(state=fake.state) as prod:
        fake.inject(kind)
        client = make_client(fake.base_url, prod.base_url)
        try:
            if moves_on:
                await client.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
                assert prod.stats.count(rpc="generateContent") == 1
            else:
                with pytest.raises(UpstreamError):
                    await client.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
                assert prod.stats.count(rpc="generateContent") == 0
        finally:
            await client.http.aclose()


async def test_when_every_host_fails_the_informative_failure_wins(fake, alice):
    dead = closed_port_url()
    async with run_fake_upstream(state=fake.state) as prod:
        fake.inject("rate_limit", delay=2.5)
        prod.inject("not_found")
        client = make_client(fake.base_url, prod.base_url, dead)
        try:
            with pytest.raises(UpstreamError) as info:
                async with client.stream_generate(alice.access_token, envelope("gemini-3-flash", "hi")):
                    pytest.fail("must not yield")
            failure = info.value.failure
            assert failure.kind is FailureKind.RATE_LIMITED and failure.retry_after == 2.5
        finally:
            await client.http.aclose()
    only_dead = make_client(dead)
    try:
        with pytest.raises(UpstreamError) as info:
            await only_dead.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
        assert info.value.failure.kind is FailureKind.TRANSPORT
    finally:
        await only_dead.http.aclose()


async def test_bootstrap_calls_fall_back_too(fake, alice):
    async with run_fake_upstream(state=fake.state) as prod:
        fake.inject("unavailable", rpcs="*", times=None)
        client = make_client(fake.base_url, prod.base_url)
        try:
            info = await client.load_code_assist(alice.access_token)
            assert info.project_id == alice.project
            catalog = await client.fetch_available_models(alice.access_token, alice.project)
            assert "gemini-3-flash" in catalog
        finally:
            await client.http.aclose()
