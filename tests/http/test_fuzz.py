"""Throw random and mangled bytes at the server: it never crashes and keeps serving other connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antigravityd.http.server import Completed, HttpServer, ServerLimits
from tests.http.test_server import App

VALID = [
    b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /stream?n=2 HTTP/1.1\r\nhost: x\r\n\r\n",
]


@pytest.fixture(scope="module")
def server_port() -> Iterator[tuple[int, list[Completed]]]:
    ready = threading.Event()
    holder: dict = {}
    done: list[Completed] = []

    async def main() -> None:
        server = HttpServer(App(), ServerLimits(header_timeout=0.5, body_timeout=0.5, max_header_bytes=4096,
                                                max_body_bytes=65536), on_complete=done.append)
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        holder["port"] = listeners[0].socket.getsockname()[1]
        holder["token"] = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            holder["cancel"] = nursery.cancel_scope.cancel
            await nursery.start(server.serve, listeners)
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["port"], done
    trio.from_thread.run_sync(holder["cancel"], trio_token=holder["token"])
    thread.join(10)
    assert not thread.is_alive()


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


def mangled() -> st.SearchStrategy[bytes]:
    def mangle(base: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(base)
        for pos, delete, insert in edits:
            pos %= len(data) + 1
            data[pos:pos + delete] = insert
        return bytes(data)

    edit = st.tuples(st.integers(0, 200), st.integers(0, 5), st.binary(max_size=8))
    return st.builds(mangle, st.sampled_from(VALID), st.lists(edit, max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=2048), mangled()))
def test_random_bytes_never_break_the_server(server_port, data: bytes):
    port, _ = server_port
    out = exchange(port, data)
    # Whatever came back is HTTP (or nothing at all), never a traceback.
    assert out == b"" or out.startswith(b"HTTP/1.1 ")
    assert b"Traceback" not in out
    # And another client is served normally.
    ok = exchange(port, b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 "), ok[:100]
