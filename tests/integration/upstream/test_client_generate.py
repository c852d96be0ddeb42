"""CloudCodeClient generation calls against the fake upstream over real loopback HTTP."""

from __future__ import annotations

import pytest
import trio

from antigravityd.outcomes import FailureKind
from antigravityd.upstream.errors import UpstreamError
from antigravityd.upstream.sse import HEARTBEAT
from tests.fake_upstream.generation import UTF8_PREFIX
from tests.integration.upstream.conftest import client_for


def envelope(model: str, text: str, **request) -> dict:
    return {"project": "p", "model": model, "userAgent": "antigravity", "requestType": "agent",
            "requestId": "agent-1", "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


def text_of(events: list[dict]) -> str:
    return "".join(p.get("text", "") for e in events for c in e.get("candidates", [])
                   for p in c.get("content", {}).get("parts", []) if not p.get("thought"))


async def collect(client, token, body, **kw) -> tuple[list[dict], object]:
    async with client.stream_generate(token, body, **kw) as stream:
        events = [event async for event in stream]
    return events, stream


async def test_stream_yields_unwrapped_events(fake, client, alice):
    events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "hello [[chunks:5]]"),
                                   headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert len(events) == 5 and all("candidates" in e and "traceId" not in e for e in events)
    assert text_of(events).startswith("Echo: hello")
    assert stream.finish_reason == "STOP" and stream.events == 5 and stream.malformed == 0
    assert stream.trace_id and stream.base_url == fake.base_url
    sent = fake.last_request("streamGenerateContent")
    assert sent.headers["user-agent"] == "antigravity/1.115.0 linux/amd64"
    assert sent.headers["x-client-version"] == "1.115.0" and sent.headers["x-client-name"] == "antigravity"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.path.endswith(":streamGenerateContent?alt=sse")


async def test_stream_with_heartbeat_markers_and_tool_calls(client, alice):
    body = envelope("claude-sonnet-4-6", '[[call:bash {"command":"ls"}]]')
    async with client.stream_generate(alice.access_token, body) as stream:
        items = [item async for item in stream.with_heartbeats()]
    assert HEARTBEAT not in items  # the real upstream sends no comments; the decoder tests cover them
    call = items[-1]["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "bash" and call["id"].startswith("toolu_vrtx_01")


async def test_stream_error_before_yield(client, alice):
    body = envelope("gemini-3-flash", "hi")
    body["request"]["cache_control"] = {}
    with pytest.raises(UpstreamError) as info:
        async with client.stream_generate(alice.access_token, body):
            pytest.fail("must not yield")
    failure = info.value.failure
    assert failure.kind is FailureKind.BAD_REQUEST and failure.status == 400
    assert failure.message == "Upstream rejected the request (HTTP 400): unknown field \"cache_control\" at 'request'"


async def test_401_and_403_do_not_fall_back(fake, alice):
    other = client_for(fake.base_url, fake.base_url.replace("/v1internal", "/other/v1internal"))
    try:
        with pytest.raises(UpstreamError) as info:
            await other.generate("ya29.unknown", envelope("gemini-3-flash", "hi"))
        assert info.value.failure.kind is FailureKind.UNAUTHENTICATED
        assert info.value.failure.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        fake.inject("tos_violation")
        with pytest.raises(UpstreamError) as info:
            await other.generate(alice.access_token, envelope("gemini-3-flash", "hi"))
        assert info.value.failure.kind is FailureKind.TOS_BANNED and info.value.failure.detail_url
        assert fake.stats.count(rpc="generateContent") == 2  # the second base was never asked
    finally:
        await other.http.aclose()


async def test_generate_and_count_tokens(fake, client, alice):
    response = await client.generate(alice.access_token, envelope("gemini-2.5-flash", "non-stream please"))
    assert response["candidates"][0]["content"]["parts"] == [{"text": "Echo: non-stream please"}]
    assert response["usageMetadata"]["promptTokenCount"] == 5
    request = {"contents": [{"role": "user", "parts": [{"text": "x" * 40}]}]}
    assert await client.count_tokens(alice.access_token, request) == 10
    assert fake.last_request("countTokens").body == {"request": request}
    fake.behaviour.count_tokens_nested = True
    assert await client.count_tokens(alice.access_token, request) == 10


async def test_split_utf8_survives(fake, client, alice):
    fake.inject("split_utf8")
    events, _ = await collect(client, alice.access_token, envelope("gemini-2.5-flash", "unicode"))
    assert text_of(events) == UTF8_PREFIX + "Echo: unicode"


async def test_cancellation_closes_the_upstream_connection(fake, client, alice):
    body = envelope("gemini-3-flash", "[[chunks:1000]][[delay_ms:50]] long story")
    received = 0
    with trio.CancelScope() as scope:
        async with client.stream_generate(alice.access_token, body) as stream:
            async for _ in stream:
                received += 1
                if received == 2:
                    scope.cancel()
    assert scope.cancelled_caught and received == 2
    with trio.fail_after(5):  # a bound for a broken build, not a timing assertion
        await fake.wait_for_disconnects(1)
    assert fake.stats.disconnect_log[0].rpc == "streamGenerateContent"
    # the pool recovers: the next call opens a fresh connection and works
    events, _ = await collect(client, alice.access_token, envelope("gemini-3-flash", "again"))
    assert text_of(events) == "Echo: again"


async def test_leaving_the_block_early_closes_too(fake, client, alice):
    body = envelope("gemini-3-flash", "[[chunks:1000]][[delay_ms:50]] long story")
    async with client.stream_generate(alice.access_token, body) as stream:
        await stream.__anext__()
    with trio.fail_after(5):
        await fake.wait_for_disconnects(1)


async def test_mid_stream_cut_raises_after_the_events_it_delivered(fake, client, alice):
    fake.inject("cut_stream", after_events=3)
    got = []
    with pytest.raises(UpstreamError) as info:
        async with client.stream_generate(alice.access_token, envelope("gemini-3-flash", "[[chunks:9]] x")) as s:
            async for event in s:
                got.append(event)
    assert len(got) == 3 and s.finish_reason is None
    assert info.value.failure.kind is FailureKind.TRANSPORT


async def test_truncated_and_empty_streams_end_quietly(fake, client, alice):
    fake.inject("cut_stream", after_events=2, mode="eof")
    events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "[[chunks:4]] x"))
    assert len(events) == 2 and stream.finish_reason is None  # the pipeline calls this truncation
    fake.inject("empty_stream")
    events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "x"))
    assert events == [] and stream.events == 0


async def test_line_cap_is_enforced(fake, alice):
    small = client_for(fake.base_url, max_sse_line=4096)
    try:
        with pytest.raises(UpstreamError) as info:
            await collect(small, alice.access_token, envelope("gemini-2.5-flash", "[[chunks:1]][[say:" + "y" * 5000 +
                                                             "]]"))
        assert info.value.failure.kind is FailureKind.TRANSPORT and "4096" in info.value.failure.message
    finally:
        await small.http.aclose()


@pytest.mark.slow
async def test_default_ten_mebibyte_line_cap(fake, client, alice):
    fake.strict.prompt_too_long = False
    big = "z" * (10 * 1024 * 1024 + 10)
    with pytest.raises(UpstreamError) as info:
        await collect(client, alice.access_token, envelope("gemini-2.5-flash", f"[[chunks:1]][[say:{big}]]"))
    assert info.value.failure.kind is FailureKind.TRANSPORT and "10485760" in info.value.failure.message


async def test_total_deadline(fake, alice):
    fake.inject("stall", after_events=1, delay_ms=10_000)
    quick = client_for(fake.base_url, total_timeout=1.0)  # room for a loaded machine
    try:
        got = []
        with pytest.raises(UpstreamError) as info:
            async with quick.stream_generate(alice.access_token, envelope("gemini-3-flash", "[[chunks:3]] x")) as s:
                async for event in s:
                    got.append(event)
        assert len(got) == 1
        assert info.value.failure.kind is FailureKind.TIMEOUT and "total deadline" in info.value.failure.message
        with trio.fail_after(5):
            await fake.wait_for_disconnects(1)
        fake.inject("slow_first_byte", delay_ms=10_000, rpcs="generateContent")
        with pytest.raises(UpstreamError) as info:
            await quick.generate(alice.access_token, envelope("gemini-3-flash", "x"))
        assert info.value.failure.kind is FailureKind.TIMEOUT
    finally:
        await quick.http.aclose()


async def test_read_timeout_between_chunks(fake, alice):
    fake.inject("stall", after_events=1, delay_ms=10_000)
    impatient = client_for(fake.base_url, read_timeout=0.2)
    try:
        with pytest.raises(UpstreamError) as info:
            await collect(impatient, alice.access_token, envelope("gemini-3-flash", "[[chunks:3]] x"))
        assert info.value.failure.kind is FailureKind.TIMEOUT and "read timeout" in info.value.failure.message
    finally:
        await impatient.http.aclose()


async def test_in_band_error_event_is_raised(fake, client, alice):
    # Not seen from Cloud Code, but a proxy in between may do it; it must not pass as content.
    fake.inject("custom", status=200, body='data: {"error":{"code":503,"message":"No capacity available for model '
                                           'x on the server","status":"UNAVAILABLE"}}\n\n',
                headers=[["content-type", "text/event-stream"]])
    with pytest.raises(UpstreamError) as info:
        await collect(client, alice.access_token, envelope("gemini-3-flash", "x"))
    assert info.value.failure.kind is FailureKind.CAPACITY


async def test_heartbeats_are_reported_and_skipped(fake, client, alice):
    fake.inject("heartbeats", count=3)
    async with client.stream_generate(alice.access_token, envelope("gemini-3-flash", "x")) as stream:
        items = [item async for item in stream.with_heartbeats()]
    assert items[:3] == [HEARTBEAT] * 3 and stream.heartbeats == 3 and stream.finish_reason == "STOP"
    fake.inject("heartbeats", count=2)
    events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "x"))
    assert HEARTBEAT not in events and stream.heartbeats == 2


async def test_a_dropped_connection_is_retried_once_on_the_same_base(fake, client, alice):
    fake.inject("drop_connection")
    events, stream = await collect(client, alice.access_token, envelope("gemini-3-flash", "x"))
    assert text_of(events) == "Echo: x" and stream.base_url == fake.base_url
    assert fake.stats.count(rpc="streamGenerateContent") == 2
    fake.inject("drop_connection", times=2)
    with pytest.raises(UpstreamError) as info:
        await collect(client, alice.access_token, envelope("gemini-3-flash", "x"))
    assert info.value.failure.kind is FailureKind.TRANSPORT


async def test_cancelling_before_the_first_byte_closes_too(fake, client, alice):
    fake.inject("slow_first_byte", delay_ms=30_000)
    async with trio.open_nursery() as nursery:

        async def call() -> None:
            async with client.stream_generate(alice.access_token, envelope("gemini-3-flash", "x")):
                pytest.fail("the fake is still sleeping")

        nursery.start_soon(call)
        with trio.fail_after(5):
            await fake.wait_for_requests(1, rpc="streamGenerateContent")
        nursery.cancel_scope.cancel()
    with trio.fail_after(5):
        await fake.wait_for_disconnects(1)


async def test_concurrent_streams_share_the_pool(fake, alice):
    pooled = client_for(fake.base_url, max_connections=4, max_keepalive_connections=4)
    try:
        texts = []

        async def one(i: int) -> None:
            events, _ = await collect(pooled, alice.access_token,
                                      envelope("gemini-3-flash", f"n{i} [[first_byte_ms:30]]"))
            texts.append(text_of(events))

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(one, i)
        assert sorted(texts) == sorted(f"Echo: n{i}" for i in range(8))
        assert fake.stats.peak_concurrency[alice.email] <= 4  # the pool bounds what reaches upstream
    finally:
        await pooled.http.aclose()
