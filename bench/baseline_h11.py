"""Baseline for the HTTP benchmarks: the smallest trio + h11 server that answers /health and a 100-event SSE
stream (no router, metrics, logging, limits or drain). Our server's numbers are reported as a ratio to this one,
measured in the same run, because the machine is noisy.

Usage: python bench/baseline_h11.py PORT
"""

from __future__ import annotations

import sys

import h11
import trio

BODY = b'{"status":"ok"}'


async def handle(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                if event.target.startswith(b"/health"):
                    out = conn.send(h11.Response(status_code=200, headers=[("content-type", "application/json"),
                                                                          ("content-length", str(len(BODY)))]))
                    out += conn.send(h11.Data(data=BODY)) + conn.send(h11.EndOfMessage())
                    await stream.send_all(out)
                else:
                    await stream.send_all(conn.send(h11.Response(status_code=200,
                                                                 headers=[("content-type", "text/event-stream")])))
                    for i in range(100):
                        await stream.send_all(conn.send(h11.Data(data=b'data: {"index":%d}\n\n' % i)))
                    await stream.send_all(conn.send(h11.Data(data=b"data: [DONE]\n\n")) + conn.send(h11.EndOfMessage()))
            elif isinstance(event, h11.EndOfMessage):
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (trio.BrokenResourceError, h11.RemoteProtocolError):
        return


async def main(port: int) -> None:
    await trio.serve_tcp(handle, port, host="127.0.0.1")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
