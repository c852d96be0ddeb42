"""Cost of the Cloud Code client over raw httpx, against the fake upstream in another process.

    PYTHONPATH=. python bench/upstream_client.py [--requests 300] [--concurrency 1 10] [--events 100]

Runs the fake (``python -m tests.fake_upstream``) as a subprocess, then, in this process and interleaved in
one run, the same workload through (a) raw httpx (``aiter_lines`` + orjson, the floor) and (b)
``CloudCodeClient.stream_generate`` / ``generate``. Reports req/s, p50/p99 latency and this process's CPU ms per
request (``resource.getrusage``): the client's own overhead is (b) − (a). Numbers are comparable only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from antigravityd.upstream.client import ClientSettings, CloudCodeClient, make_http_client  # noqa: E402

UA = "antigravity/1.115.0 linux/amd64"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def envelope(events: int) -> dict:
    text = f"[[chunks:{events}]] benchmark" if events else "benchmark"
    return {"project": "p", "model": "gemini-2.5-flash", "request": {
        "contents": [{"role": "user", "parts": [{"text": text}]}]}}


async def run(label: str, one, requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - t0)

    c0, w0 = cpu(), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    wall, used = time.perf_counter() - w0, cpu() - c0
    latencies.sort()
    return {"label": label, "c": concurrency, "req_s": requests / wall,
            "p50_ms": statistics.median(latencies) * 1e3, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
            "cpu_ms_per_req": used / requests * 1e3}


async def main(args: argparse.Namespace) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--port", "0", "--accounts", "1",
                             "--quota-limit", str(10**9)],
                            stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        banner = json.loads(proc.stdout.readline())
        token = banner["accounts"][0]["access_token"]
        base = banner["base_url"]
        settings = ClientSettings(base_urls=(base,), user_agent=UA, client_version="1.115.0")
        client = CloudCodeClient(settings, make_http_client(settings, verify=False))
        raw = make_http_client(settings, verify=False)
        headers = {"authorization": f"Bearer {token}", "user-agent": UA, "content-type": "application/json"}
        stream_body, unary_body = envelope(args.events), envelope(0)

        async def raw_stream() -> None:
            async with raw.stream("POST", f"{base}:streamGenerateContent?alt=sse", content=orjson.dumps(stream_body),
                                  headers=headers) as r:
                n = 0
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        orjson.loads(line[6:])
                        n += 1
                assert n == args.events, n

        async def client_stream() -> None:
            async with client.stream_generate(token, stream_body) as s:
                n = sum([1 async for _ in s])
                assert n == args.events, n

        async def raw_unary() -> None:
            r = await raw.post(f"{base}:generateContent", content=orjson.dumps(unary_body), headers=headers)
            assert r.status_code == 200
            orjson.loads(r.content)

        async def client_unary() -> None:
            await client.generate(token, unary_body)

        rows = []
        for c in args.concurrency:
            for _ in range(args.rounds):  # interleave to share the machine's noise
                rows.append(await run("raw httpx stream", raw_stream, args.requests, c))
                rows.append(await run("client stream", client_stream, args.requests, c))
                rows.append(await run("raw httpx unary", raw_unary, args.requests, c))
                rows.append(await run("client unary", client_unary, args.requests, c))
        print(f"{'workload':18} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>11}")
        for row in rows:
            print(f"{row['label']:18} {row['c']:>3} {row['req_s']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
                  f"{row['cpu_ms_per_req']:11.3f}")
        await client.http.aclose()
        await raw.aclose()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--events", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    trio.run(main, p.parse_args())
