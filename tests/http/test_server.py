"""The HTTP/1.1 server against raw sockets: limits, framing, pipelining, disconnects, failures."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
import trio
import trio.testing

from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.http.server import ACCEPTS_PER_TURN, Completed, HttpServer, ServerLimits
from antigravityd.http.sse import SSEWriter


class App:
    """A test application with routes that exercise each server behaviour."""

    def __init__(self) -> None:
        self.cancelled = trio.Event()
        self.started = trio.Event()
        self.release = trio.Event()
        self.finished: list[int] = []  # bytes_sent of each finished /first-and-last
        self.router = Router()
        self.router.get("/ok", self.ok)
        self.router.post("/echo", self.echo)
        self.router.get("/wait", self.wait)
        self.router.get("/gate", self.gate)
        self.router.get("/boom", self.boom)
        self.router.get("/boom-mid-stream", self.boom_mid_stream)
        self.router.get("/stream", self.stream)
        self.router.get("/flood", self.flood)
        self.router.get("/first-and-last", self.first_and_last)
        self.router.get("/items/{item}", self.item)
        self.router.get("/files/{rest:path}", self.item)

    async def __call__(self, request: Request):
        return await self.router(request)

    async def ok(self, request: Request) -> Response:
        return json_response({"ok": True, "path": request.path})

    async def echo(self, request: Request) -> Response:
        return json_response({"length": len(request.body), "head": request.body[:16].decode(errors="replace")})

    async def item(self, request: Request) -> Response:
        return json_response(request.route_params)

    async def wait(self, request: Request) -> Response:
        self.started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.set()
            raise

    async def gate(self, request: Request) -> Response:
        self.started.set()
        try:
            await self.release.wait()
        except trio.Cancelled:
            self.cancelled.set()
            raise
        return json_response({"gate": "open"})

    async def boom(self, request: Request) -> Response:
        raise RuntimeError("bug")

    async def boom_mid_stream(self, request: Request) -> None:
        writer = await request.stream(200, [], "text/event-stream")
        await SSEWriter(writer).send({"n": 1})
        raise RuntimeError("bug after the first byte")

    async def flood(self, request: Request) -> None:
        writer = await request.stream(200, [], "application/octet-stream")
        try:
            while True:
                await writer.write(b"x" * 65536)
        except trio.Cancelled:
            self.cancelled.set()
            raise

    async def first_and_last(self, request: Request) -> None:
        writer = await request.stream(200, [], "text/plain", first=b"head+first;")
        await writer.write(b"middle;")
        await writer.finish(b"last")
        with pytest.raises(RuntimeError, match="complete"):
            await writer.write(b"more")
        self.finished.append(writer.bytes_sent)

    async def stream(self, request: Request) -> None:
        sse = SSEWriter(await request.stream(200, [], "text/event-stream"))
        for i in range(int(request.query.get("n", "3"))):
            await sse.send({"i": i})


@asynccontextmanager
async def running(app, *, epoll_hangups: bool = True,
                  **limits) -> AsyncIterator[tuple[str, int, HttpServer, list[Completed]]]:
    done: list[Completed] = []
    server = HttpServer(app, ServerLimits(**limits), on_complete=done.append, epoll_hangups=epoll_hangups)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listeners)
        yield "127.0.0.1", port, server, done
        nursery.cancel_scope.cancel()


async def raw_exchange(port: int, data: bytes, *, read_until_close: bool = True) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        chunks = []
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                chunks.append(chunk)
                if not read_until_close:
                    break
        return b"".join(chunks)


async def test_ok_keepalive_and_router_params():
    async with running(App()) as (host, port, _, done):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            for _ in range(3):
                r = await client.get("/ok")
                assert r.json() == {"ok": True, "path": "/ok"}
            assert (await client.get("/items/gemini-3.5:generate")).json() == {"item": "gemini-3.5:generate"}
            assert (await client.get("/files/a/b/c")).json() == {"rest": "a/b/c"}
            r = await client.post("/ok")
            assert r.status_code == 405 and r.headers["allow"] == "GET"
            assert (await client.get("/nope")).status_code == 404
    assert [c.status for c in done] == [200, 200, 200, 200, 200, 405, 404]


async def test_oversized_headers_get_431():
    async with running(App(), max_header_bytes=2048) as (_, port, _, done):
        out = await raw_exchange(port, b"GET /ok HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 5000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    assert done[-1].status == 431


async def test_oversized_body_by_content_length_gets_413_without_reading_it():
    async with running(App(), max_body_bytes=1000) as (_, port, _, _):
        out = await raw_exchange(port, b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ") and b"connection: close" in out


async def test_oversized_chunked_body_gets_413():
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    async with running(App(), max_body_bytes=3000) as (_, port, _, _):
        head = b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        out = await raw_exchange(port, head + chunk * 4)
    assert out.startswith(b"HTTP/1.1 413 ")


async def test_chunked_upload():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with running(App()) as (_, port, _, _):
        out = await raw_exchange(port, b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
                                       b"connection: close\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 200 ")
    assert orjson.loads(out.split(b"\r\n\r\n", 1)[1]) == {"length": 11, "head": "hello world"}


async def test_expect_100_continue():
    async with running(App()) as (_, port, _, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n")
            interim = await stream.receive_some(65536)
            assert interim.startswith(b"HTTP/1.1 100 ")
            await stream.send_all(b"abcd")
            final = await stream.receive_some(65536)
            assert final.startswith(b"HTTP/1.1 200 ") and b'"length":4' in final


async def test_head_has_headers_but_no_body():
    async with running(App()) as (_, port, _, _):
        out = await raw_exchange(port, b"HEAD /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 24" in head
    assert body == b""


async def test_pipelined_requests_answered_in_order():
    requests = b"".join(f"GET /items/{i} HTTP/1.1\r\nhost: x\r\n\r\n".encode() for i in range(5))
    async with running(App()) as (_, port, _, _):
        out = await raw_exchange(port, requests + b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    bodies = [part for part in out.split(b"\r\n\r\n")[1::1] if part.startswith(b"{")]
    items = [orjson.loads(b[: b.index(b"}") + 1]) for b in bodies]
    assert items[:5] == [{"item": str(i)} for i in range(5)]
    assert out.count(b"HTTP/1.1 200 ") == 6


async def test_garbage_gets_400_and_close():
    async with running(App()) as (_, port, _, done):
        out = await raw_exchange(port, b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert done[-1].status == 400


async def test_slow_headers_get_408():
    async with running(App(), header_timeout=0.5) as (_, port, _, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            request = b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n"
            out = b""
            with trio.fail_after(10):
                for byte in request:  # one byte every 0.2 s: a slow-loris client (the behaviour under test)
                    try:
                        await stream.send_all(bytes([byte]))
                    except trio.BrokenResourceError:
                        break
                    with trio.move_on_after(0.2):
                        out += await stream.receive_some(65536)
                    if out:
                        break
        assert out.startswith(b"HTTP/1.1 408 ")


async def test_idle_keepalive_connection_is_closed():
    async with running(App(), keepalive_timeout=0.3) as (_, port, _, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n")
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200 ")
            with trio.fail_after(5):
                assert await stream.receive_some(65536) == b""  # server closed the idle connection


HANGUP_WATCHERS = pytest.mark.parametrize("epoll_hangups", [True, False], ids=["epoll-monitor", "watcher-task"])


@HANGUP_WATCHERS
async def test_client_disconnect_cancels_the_handler(epoll_hangups: bool):
    app = App()
    async with running(app, epoll_hangups=epoll_hangups) as (_, port, _, done):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /wait HTTP/1.1\r\nhost: x\r\n\r\n")
        await app.started.wait()
        await stream.aclose()
        with trio.fail_after(5):
            await app.cancelled.wait()
    with trio.fail_after(5):
        while not done:
            await trio.sleep(0.01)
    assert done[-1].status == 499


@HANGUP_WATCHERS
async def test_a_request_pipelined_while_a_handler_runs_waits_its_turn(epoll_hangups: bool):
    """Bytes arriving while a handler runs are not a hang-up: the handler finishes, then the next request."""
    app = App()
    async with running(app, epoll_hangups=epoll_hangups) as (_, port, server, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /gate HTTP/1.1\r\nhost: x\r\n\r\n")
            await app.started.wait()
            await stream.send_all(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            if epoll_hangups:
                assert server.hangups.watched == 1
            app.release.set()
            out = b""
            with trio.fail_after(5):
                while chunk := await stream.receive_some(65536):
                    out += chunk
    assert not app.cancelled.is_set()
    assert out.count(b"HTTP/1.1 200 ") == 2
    assert out.index(b'"gate"') < out.index(b'"ok"')


async def test_a_client_that_stops_reading_is_cut_after_the_send_timeout():
    app = App()
    async with running(app, send_timeout=0.3) as (_, port, _, done):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n")
            with trio.fail_after(10):  # reads nothing: the buffers fill, the write stalls, the deadline fires
                await app.cancelled.wait()
                while not done:
                    await trio.testing.wait_all_tasks_blocked()
    assert done[-1].status == 499 and done[-1].bytes_sent >= 65536  # recorded as a client that went away


async def test_handler_crash_is_a_500_in_json():
    async with running(App()) as (host, port, _, _):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            r = await client.get("/boom")
            assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
            assert "bug" not in r.text  # internals stay in the log
            assert (await client.get("/ok")).status_code == 200  # the connection survives


async def test_crash_after_first_byte_aborts_the_stream():
    async with running(App()) as (host, port, _, done):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            with pytest.raises(httpx.RemoteProtocolError):
                async with client.stream("GET", "/boom-mid-stream") as r:
                    async for _ in r.aiter_lines():
                        pass
    assert done[-1].aborted and done[-1].status == 500


async def test_streaming_response_and_http10_client():
    async with running(App()) as (host, port, _, _):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            async with client.stream("GET", "/stream?n=4") as r:
                lines = [line async for line in r.aiter_lines() if line]
            assert lines == [f'data: {{"i":{i}}}' for i in range(4)]
        out = await raw_exchange(port, b"GET /stream?n=2 HTTP/1.0\r\n\r\n")  # no chunked for 1.0: close-delimited
        assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b'data: {"i":1}\n\n')


async def test_first_bytes_with_the_head_and_last_bytes_with_the_end():
    """``stream(first=…)`` and ``finish(…)``: the body is whole, ends once (the connection is reused), counts
    every byte, refuses writes after the end; HEAD gets the head only."""
    app = App()
    async with running(app) as (host, port, _, done):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            for _ in range(2):
                assert (await client.get("/first-and-last")).text == "head+first;middle;last"
        out = await raw_exchange(port, b"HEAD /first-and-last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"\r\n\r\n") and b"head+first" not in out
    assert app.finished == [22, 22, 22] and [c.bytes_sent for c in done] == [22, 22, 22]
    assert [c.status for c in done] == [200, 200, 200]


async def test_max_connections_queues_extra_connections():
    app = App()
    async with running(app, max_connections=1) as (_, port, server, _):
        first = await trio.open_tcp_stream("127.0.0.1", port)
        await first.send_all(b"GET /wait HTTP/1.1\r\nhost: x\r\n\r\n")
        await app.started.wait()
        assert server.connections == 1
        second = await trio.open_tcp_stream("127.0.0.1", port)  # waits in the backlog, not refused
        await second.send_all(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        with trio.move_on_after(0.3):
            assert await second.receive_some(65536) == b"never"  # nothing is served while at the limit
        await first.aclose()
        with trio.fail_after(5):
            assert (await second.receive_some(65536)).startswith(b"HTTP/1.1 200 ")
        await second.aclose()


class _AcceptSteps(trio.abc.Instrument):
    """How many connection tasks each scheduling step of the accept loop's task started."""

    def __init__(self) -> None:
        self.accepted: list[int] = []
        self._in_accept_step = False

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if "_accept_loop" in task.name:
            self._in_accept_step = True
            self.accepted.append(0)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        self._in_accept_step = False

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if self._in_accept_step:
            self.accepted[-1] += 1


async def test_a_backlog_of_connections_is_accepted_a_few_per_wake_up():
    """Under load every scheduling round is long: taking one connection per round made a burst of new clients
    wait seconds to be accepted. Taking the whole backlog at once started every request of a herd before any could
    answer: a few per round."""
    async with running(App()) as (_, port, server, _):
        clients = []
        for _ in range(50):  # connected in the kernel's backlog before the accept loop runs again
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            clients.append(sock)
        counter = _AcceptSteps()
        trio.lowlevel.add_instrument(counter)
        try:
            await trio.testing.wait_all_tasks_blocked()  # trio polls for I/O before it calls itself idle
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert server.connections == 50
        assert max(counter.accepted) == ACCEPTS_PER_TURN
        busy = [n for n in counter.accepted if n]
        assert len(busy) == -(-50 // ACCEPTS_PER_TURN)  # full wake-ups, then the rest: not one per round
        for sock in clients:
            sock.close()


async def test_drain_sends_connection_close_and_lets_idle_connections_go():
    async with running(App(), drain_idle_grace=0.2) as (host, port, server, _):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            assert (await client.get("/ok")).headers.get("connection") is None
            server.drain(trio.current_time() + 5)
            r = await client.get("/ok")  # the idle keep-alive connection may still ask, within the grace
            assert r.status_code == 200 and r.headers["connection"] == "close"
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)  # no longer accepting
