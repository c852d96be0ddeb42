"""A cheap streaming load generator: plain non-blocking sockets and one epoll loop, no event-loop library.

Why not httpx on trio (what the benchmarks used before): at a few hundred concurrent streams of 100 events each, the
load generator spent ~25 ms of CPU per stream and became the ceiling (~38 streams/s on its core), so the daemon was
never the one saturated. Here a received event costs one ``recv`` and a few comparisons.

Each of ``concurrency`` keep-alive connections sends the same request over and over until ``streams`` responses
have completed. A response ends at its Content-Length or at the chunked terminator; the chunked body is scanned
for the terminator only (the 7 bytes ``\\r\\n0\\r\\n\\r\\n``), not decoded — the benchmark needs timings and sizes,
not the content. Measured per response: its start and the time to its first body byte (TTFB).
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field

__all__ = ["LoadResult", "build_request", "run_load"]

_TERMINATOR = b"\r\n0\r\n\r\n"
_HEAD_LIMIT = 65536


def build_request(method: str, url: str, headers: dict[str, str], body: bytes | None) -> tuple[str, int, bytes]:
    """(host, port, request bytes) for an ``http://host:port/path`` URL."""
    rest = url.removeprefix("http://")
    authority, _, path = rest.partition("/")
    host, _, port = authority.rpartition(":")
    lines = [f"{method} /{path} HTTP/1.1", f"host: {authority}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"content-length: {len(body)}")
    return host.strip("[]"), int(port), ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class LoadResult:
    ttfb: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # each response's start, seconds into the run
    body_bytes: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0

    def ttfb_after_first_wave(self, concurrency: int) -> list[float]:
        """The TTFBs of the streams that did not start in the first wave. A closed-loop run opens ``concurrency``
        connections and requests at once, a herd whose starts queue behind each other; later streams start one by
        one as earlier ones end, which is the steady state."""
        order = sorted(range(len(self.ttfb)), key=self.started.__getitem__)
        return [self.ttfb[i] for i in order[concurrency:]]


class _Conn:
    __slots__ = ("body", "chunked", "first", "head", "length", "sock", "started", "tail")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reset()

    def reset(self) -> None:
        self.head = b""  # the response head while incomplete; None once parsed
        self.body = 0
        self.chunked = False
        self.length = -1
        self.first = 0.0
        self.tail = b"\r\n"  # so a body that is just "0\r\n\r\n" also ends
        self.started = 0.0


def run_load(host: str, port: int, request: bytes, streams: int, concurrency: int,
             timeout: float = 300.0, batch: float = 0.001, rate: float | None = None) -> LoadResult:
    """Run ``streams`` requests, ``concurrency`` at a time; blocks until all are done (or ``timeout``).

    With ``rate`` the load is open instead: a request starts every ``1/rate`` seconds whatever the earlier ones are
    doing (on an idle keep-alive connection, else a new one; ``concurrency`` is then ignored). A closed loop at a
    saturated server measures how the server splits its backlog; a rate below its capacity measures what a client
    waits when it is not overloaded.

    The loop polls at most every ``batch`` seconds, so that one ``epoll_wait`` finds many ready sockets and one
    ``recv`` gets what arrived meanwhile: at 40,000 events/s, a wake-up per event cost the generator ~20 µs each,
    most of a core. Timings are therefore late by up to ``batch``.
    """
    result = LoadResult()
    epoll = select.epoll()
    conns: dict[int, _Conn] = {}
    to_start = streams
    running = 0
    idle: list[_Conn] = []  # open mode: keep-alive connections between requests
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def open_and_send() -> None:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((host, port))  # loopback: immediate
        sock.setblocking(False)
        conn = _Conn(sock)
        conns[sock.fileno()] = conn
        epoll.register(sock.fileno(), select.EPOLLIN)
        send(conn)

    def send(conn: _Conn) -> None:
        nonlocal to_start, running
        to_start -= 1
        running += 1
        conn.reset()
        conn.started = time.perf_counter()
        conn.sock.sendall(request)  # small: fits in the socket buffer

    def finish(conn: _Conn, failure: str | None) -> None:
        nonlocal running
        running -= 1
        now = time.perf_counter()
        if failure is None:
            result.ttfb.append((conn.first or now) - conn.started)
            result.started.append(conn.started - started)
            result.body_bytes.append(conn.body)
        else:
            result.failures.append(failure)
            epoll.unregister(conn.sock.fileno())
            del conns[conn.sock.fileno()]
            conn.sock.close()
            if to_start > 0:
                open_and_send()
            return
        if rate is not None:
            idle.append(conn)
        elif to_start > 0:
            send(conn)

    def start_due(now: float) -> None:
        nonlocal next_start
        while to_start > 0 and next_start <= now:
            if idle:
                send(idle.pop())
            else:
                open_and_send()
            next_start += 1 / rate  # type: ignore[operator]

    buffer = bytearray(262144)
    view = memoryview(buffer)
    started = time.perf_counter()
    next_start = started
    if rate is None:
        for _ in range(min(concurrency, streams)):
            open_and_send()
    deadline = started + timeout
    next_poll = started
    while running or (rate is not None and to_start > 0):
        now = time.perf_counter()
        if now < next_poll:
            time.sleep(next_poll - now)
        next_poll = time.perf_counter() + batch
        if rate is not None:
            start_due(time.perf_counter())
        if next_poll > deadline:
            result.failures += ["timeout"] * running
            break
        for fd, _ in epoll.poll(1.0 if rate is None else batch):  # open mode: the next start is never far
            conn = conns[fd]
            try:
                n = conn.sock.recv_into(buffer)  # into one preallocated buffer: no allocation per event
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                finish(conn, type(e).__name__)
                continue
            if not n:
                finish(conn, "closed early")
                continue
            if conn.head is not None:
                conn.head += view[:n]
                end = conn.head.find(b"\r\n\r\n")
                if end < 0:
                    if len(conn.head) > _HEAD_LIMIT:
                        finish(conn, "head too long")
                    continue
                head, rest = conn.head[:end].lower(), conn.head[end + 4:]
                conn.head = None
                if not head.startswith((b"http/1.1 200", b"http/1.0 200")):
                    finish(conn, head.split(b"\r\n", 1)[0].decode("latin-1"))
                    continue
                conn.chunked = b"transfer-encoding: chunked" in head
                if not conn.chunked:
                    marker = head.find(b"content-length:")
                    conn.length = int(head[marker + 15:].split(b"\r\n", 1)[0]) if marker >= 0 else -1
                if not rest:
                    continue
                n = len(rest)
                tail = rest[-7:]
            else:
                tail = view[max(0, n - 7):n].tobytes()
            if not conn.first:
                conn.first = time.perf_counter()
            conn.body += n
            if conn.chunked:
                conn.tail = (conn.tail + tail)[-7:]
                if conn.tail.endswith(_TERMINATOR):
                    finish(conn, None)
            elif conn.length >= 0 and conn.body >= conn.length:
                finish(conn, None)
    result.wall = time.perf_counter() - started
    for conn in conns.values():
        conn.sock.close()
    epoll.close()
    return result
