"""H11Transport against a scripted HTTP/1.1 server on loopback: keep-alive reuse, stale connections, early close,
cancellation, timeouts and the httpx exception types callers rely on."""

from __future__ import annotations

import json
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import h11
import httpx
import pytest
import trio
import trio.testing
import trustme

from antigravityd.upstream.h11transport import H11Transport

Handler = Callable[["Exchange"], Awaitable[None]]


@dataclass
class Exchange:
    """One request as the server saw it, with helpers to answer it."""

    stream: trio.SocketStream
    conn: h11.Connection
    request: h11.Request
    body: bytes

    async def send(self, *events: h11.Event) -> None:
        for event in events:
            await self.stream.send_all(self.conn.send(event))

    async def respond(self, body: bytes = b"ok", *, status: int = 200, headers: list | None = None) -> None:
        hdrs = [("content-length", str(len(body)))] + (headers or [])
        await self.send(h11.Response(status_code=status, headers=hdrs), h11.Data(data=body), h11.EndOfMessage())


@dataclass
class Server:
    url: str
    accepted: int = 0
    requests: list[Exchange] = field(default_factory=list)
    closed_by_peer: trio.Event = field(default_factory=trio.Event)


async def read_request(stream: trio.SocketStream, conn: h11.Connection) -> tuple[h11.Request, bytes] | None:
    request, body = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, body


@asynccontextmanager
async def scripted_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Serves keep-alive HTTP/1.1 (over TLS with ``tls``); ``handler`` answers each request (and may misbehave on
    purpose)."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, lambda s: serve(s), 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        server = Server(url=f"{'https' if tls else 'http'}://127.0.0.1:{port}")

        async def serve(stream: trio.abc.Stream) -> None:
            server.accepted += 1
            if tls is not None:
                stream = trio.SSLStream(stream, tls, server_side=True)
            conn = h11.Connection(h11.SERVER)
            try:
                while True:
                    got = await read_request(stream, conn)
                    if got is None:
                        break
                    exchange = Exchange(stream, conn, *got)
                    server.requests.append(exchange)
                    await handler(exchange)
                    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        break
                    conn.start_next_cycle()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                server.closed_by_peer.set()
                await trio.aclose_forcefully(stream)

        yield server
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def client(**kw) -> AsyncIterator[httpx.AsyncClient]:
    timeout = kw.pop("timeout", httpx.Timeout(5.0))
    verify = kw.pop("verify", False)
    async with httpx.AsyncClient(transport=H11Transport(verify=verify, **kw), timeout=timeout) as c:
        yield c


async def echo(ex: Exchange) -> None:
    await ex.respond(json.dumps({"method": ex.request.method.decode(), "target": ex.request.target.decode(),
                                 "body": ex.body.decode()}).encode(), headers=[("content-type", "application/json")])


async def test_sequential_requests_share_one_connection() -> None:
    async with scripted_server(echo) as server, client() as http:
        for i in range(5):
            r = await http.post(f"{server.url}/v1/x?alt=sse", json={"i": i})
            assert r.status_code == 200 and r.json() == {"method": "POST", "target": "/v1/x?alt=sse",
                                                         "body": json.dumps({"i": i}, separators=(",", ":"))}
        assert server.accepted == 1 and len(server.requests) == 5
        sent = dict(server.requests[0].request.headers)
        assert sent[b"host"] == server.url.removeprefix("http://").encode() and sent[b"content-length"]


async def test_a_request_larger_than_the_socket_buffer_is_sent_whole() -> None:
    """The write that does not fit waits for the server to read and goes on where it stopped."""
    async def sized(ex: Exchange) -> None:
        await ex.respond(str(len(ex.body)).encode() + b" " + ex.body[-8:])

    body = bytes(range(256)) * (16 << 12)  # 16 MiB: many times any loopback socket buffer
    async with scripted_server(sized) as server, client() as http:
        r = await http.post(server.url, content=body)
        assert r.content == str(len(body)).encode() + b" " + body[-8:]


async def test_concurrent_requests_open_parallel_connections_and_keep_a_bounded_number() -> None:
    gate = trio.Event()

    async def held(ex: Exchange) -> None:
        await gate.wait()
        await ex.respond()

    async with scripted_server(held) as server, client(max_keepalive_connections=2) as http:
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(http.get, server.url)
            while len(server.requests) < 4:
                await trio.testing.wait_all_tasks_blocked()
            gate.set()
        assert server.accepted == 4
        transport = http._transport
        assert isinstance(transport, H11Transport) and transport._idle_count == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer_then_hang_up(ex: Exchange) -> None:
        await ex.respond()  # promises keep-alive, then goes away: the race a pooled client must survive
        await ex.stream.aclose()

    async with scripted_server(answer_then_hang_up) as server, client() as http:
        assert (await http.get(server.url)).status_code == 200
        await server.closed_by_peer.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert (await http.get(server.url)).status_code == 200
        assert server.accepted == 2


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_connection_close_from_the_server_is_honoured(chunked: bool) -> None:
    async def close_after(ex: Exchange) -> None:
        if not chunked:
            await ex.respond(headers=[("connection", "close")])
            return
        await ex.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked"),
                                                             ("connection", "keep-alive, close")]))
        await ex.send(h11.Data(data=b"ok"), h11.EndOfMessage())

    async with scripted_server(close_after) as server, client() as http:
        for _ in range(3):
            assert (await http.get(server.url)).text == "ok"
        assert server.accepted == 3


async def test_bytes_after_a_response_make_the_connection_unusable() -> None:
    async def overshoot(ex: Exchange) -> None:  # one write: the stray bytes arrive with the end of the body
        conn = ex.conn
        await ex.stream.send_all(conn.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
                                 + conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage()) + b"extra")

    async with scripted_server(overshoot) as server, client() as http:
        for _ in range(2):
            assert (await http.get(server.url)).text == "ok"
        assert server.accepted == 2


async def test_malformed_chunked_body_is_a_protocol_error() -> None:
    async def bad(ex: Exchange) -> None:
        await ex.stream.send_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n")

    async with scripted_server(bad) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="chunk"):
            await http.get(server.url)


async def streaming(ex: Exchange) -> None:
    await ex.send(h11.Response(status_code=200, headers=[("content-type", "text/event-stream")]))
    for i in range(1000):
        await ex.send(h11.Data(data=f"data: {i}\n\n".encode()))
        await trio.sleep(0.01)
    await ex.send(h11.EndOfMessage())


async def test_closing_a_stream_early_closes_its_connection() -> None:
    async with scripted_server(streaming) as server, client() as http:
        async with http.stream("GET", server.url) as r:
            async for chunk in r.aiter_bytes():
                assert chunk.startswith(b"data: 0")
                break
        with trio.fail_after(5):
            await server.closed_by_peer.wait()  # the upstream learns at once and stops generating
        assert http._transport._idle_count == 0


async def test_cancelling_a_stream_closes_its_connection() -> None:
    async with scripted_server(streaming) as server, client() as http:
        with trio.move_on_after(0.05):
            async with http.stream("GET", server.url) as r:
                async for _ in r.aiter_bytes():
                    pass
        with trio.fail_after(5):
            await server.closed_by_peer.wait()
        assert http._transport._idle_count == 0


async def test_read_timeout_is_httpx_read_timeout_and_the_connection_is_dropped() -> None:
    async def silent(ex: Exchange) -> None:
        assert await ex.stream.receive_some(1) == b""  # never answers; returns when the client hangs up

    async with scripted_server(silent) as server, client(timeout=httpx.Timeout(5.0, read=0.05)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url)
        with trio.fail_after(5):
            await server.closed_by_peer.wait()


async def test_write_timeout_when_the_server_stops_reading() -> None:
    stalled = trio.Event()

    async def never_reads(stream: trio.SocketStream) -> None:
        stalled.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, never_reads, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with client(timeout=httpx.Timeout(5.0, write=0.1)) as http:
            with trio.fail_after(10), pytest.raises(httpx.WriteTimeout):
                await http.post(f"http://127.0.0.1:{port}/", content=b"x" * (64 << 20))
        assert stalled.is_set()
        nursery.cancel_scope.cancel()


async def test_pool_timeout_when_every_connection_is_busy() -> None:
    gate = trio.Event()

    async def held(ex: Exchange) -> None:
        await gate.wait()
        await ex.respond()

    async with scripted_server(held) as server, client(max_connections=1,
                                                       timeout=httpx.Timeout(5.0, pool=0.05)) as http:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(http.get, server.url)
            while not server.requests:
                await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url)
            gate.set()
        assert (await http.get(server.url)).status_code == 200  # the slot came back


async def test_server_hanging_up_without_an_answer_is_a_protocol_error() -> None:
    async def hang_up(ex: Exchange) -> None:
        await ex.stream.aclose()

    async with scripted_server(hang_up) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url)


async def test_truncated_body_is_a_protocol_error() -> None:
    async def short(ex: Exchange) -> None:
        await ex.send(h11.Response(status_code=200, headers=[("content-length", "100")]), h11.Data(data=b"x" * 10))
        await ex.stream.aclose()

    async with scripted_server(short) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url)


async def test_connection_refused_is_connect_error() -> None:
    async with scripted_server(echo) as server:
        url = server.url
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_unsupported_scheme() -> None:
    async with client() as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/")


async def test_streamed_request_body_and_chunked_response() -> None:
    async def chunked(ex: Exchange) -> None:
        await ex.send(h11.Response(status_code=201, headers=[("transfer-encoding", "chunked")]))
        await ex.send(h11.Data(data=ex.body[:3]), h11.Data(data=ex.body[3:]), h11.EndOfMessage())

    async def body() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async with scripted_server(chunked) as server, client() as http:
        r = await http.post(server.url, content=body())
        assert r.status_code == 201 and r.content == b"hello world"
        assert (await http.get(server.url)).status_code == 201 and server.accepted == 1


async def test_chunks_received_together_are_read_as_one_and_the_connection_is_kept() -> None:
    """Several chunks in one TCP write come out of the body as one piece (the pipeline then translates and writes
    them together); chunks sent apart stay apart; the terminator in the same write still returns the connection."""
    release = trio.Event()

    async def bursts(ex: Exchange) -> None:
        await ex.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
        conn = ex.conn
        await ex.stream.send_all(b"".join(conn.send(h11.Data(data=b"e%d;" % i)) for i in range(3)))
        await release.wait()
        await ex.stream.send_all(conn.send(h11.Data(data=b"e3;")) + conn.send(h11.Data(data=b"e4;"))
                                 + conn.send(h11.EndOfMessage()))

    async with scripted_server(bursts) as server, client() as http:
        async with http.stream("GET", server.url) as r:
            pieces = []
            async for piece in r.aiter_raw():
                pieces.append(piece)
                release.set()
        assert pieces == [b"e0;e1;e2;", b"e3;e4;"]
        release = trio.Event()
        release.set()
        async with http.stream("GET", server.url) as r:
            assert await r.aread() == b"e0;e1;e2;e3;e4;"
        assert server.accepted == 1


async def test_over_tls_streams_are_decoded_and_connections_reused() -> None:
    """The production path (Google is HTTPS): chunked event streams through trio's SSLStream, keep-alive reuse,
    and a read timeout that drops the connection."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def events(ex: Exchange) -> None:
        if ex.request.target == b"/silent":
            await trio.sleep_forever()
        await ex.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
        for i in range(20):
            await ex.send(h11.Data(data=b"data: %d\n\n" % i))
        await ex.send(h11.EndOfMessage())

    async with scripted_server(events, tls=server_context) as server, \
            client(verify=client_context, timeout=httpx.Timeout(5.0, read=0.2)) as http:
        for _ in range(3):
            async with http.stream("GET", server.url) as r:
                assert await r.aread() == b"".join(b"data: %d\n\n" % i for i in range(20))
        assert server.accepted == 1
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url + "/silent")
        assert (await http.get(server.url)).status_code == 200 and server.accepted == 2


async def test_gzip_encoded_event_stream_is_decoded_for_the_cloud_code_client() -> None:
    """We ask for gzip (as Go's client does); an upstream that takes us up on it must still stream events."""
    from antigravityd.upstream.client import ClientSettings, CloudCodeClient, make_http_client

    events = [{"response": {"candidates": [{"content": {"parts": [{"text": f"part {i}"}]}}]}} for i in range(3)]
    events[-1]["response"]["candidates"][0]["finishReason"] = "STOP"
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    compressor = zlib.compressobj(wbits=31)
    body = compressor.compress(sse) + compressor.flush()

    async def gzipped(ex: Exchange) -> None:
        assert dict(ex.request.headers)[b"accept-encoding"] == b"gzip"
        await ex.send(h11.Response(status_code=200, headers=[("content-type", "text/event-stream"),
                                                             ("content-encoding", "gzip"),
                                                             ("transfer-encoding", "chunked")]))
        for i in range(0, len(body), 7):  # small pieces: the decoder must carry state across chunks
            await ex.send(h11.Data(data=body[i:i + 7]))
        await ex.send(h11.EndOfMessage())

    async with scripted_server(gzipped) as server:
        settings = ClientSettings(base_urls=(server.url + "/v1internal",), user_agent="antigravity/1.115.0 linux/amd64",
                                  client_version="1.115.0")
        async with CloudCodeClient(settings, make_http_client(settings, verify=False)) as client:
            async with client.stream_generate("token", {"model": "m", "request": {}}) as stream:
                got = [e async for e in stream]
            await client.http.aclose()
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in got] == ["part 0", "part 1", "part 2"]
    assert stream.finish_reason == "STOP"
