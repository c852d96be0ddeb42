"""Routing under load (issue 5): 2,000 OpenAI Chat requests at concurrency 200 through the daemon with 20 accounts,
while single 429s (RATE_LIMIT_EXCEEDED with a random retry delay of 0.1–2 s) are injected on random accounts at
random moments — after one request in ten, on any account but the first two, which stay clean so that at least
one account is always eligible (the condition of the 100 % success target). The same load sent straight to the
fake (no faults, accounts round-robin) is the in-run baseline for the added latency.

Three phases: direct to the fake, through the daemon, through the daemon with the 429s. Reported per phase: success
rate, upstream calls per request (from the fake's counters: 1 + retries), spread (max/min upstream requests per
account), the fake's peak concurrency per account (the cap is 5), p50/p99 latency and what the daemon adds to
the direct run's, and the daemon's CPU per request. At concurrency 200 and 20 accounts × 5 slots, half of the
requests wait in the daemon for a free slot by design: that wait is part of the added latency. Every account has
the same tier, so the spread measures the balancing rather than tier priority.

The daemon is pinned to CPU 0, the fake and this load generator to CPU 1.

    PYTHONPATH=. python bench/routing_load_bench.py [--requests 2000] [--concurrency 200] [--accounts 20]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.gateway import Gateway, start_gateway  # noqa: E402

MODEL = "gemini-3-flash"
PROMPT = "[[chunks:3]] [[delay_ms:20]]"  # ~60 ms upstream per request
UA = "antigravity/1.115.0 linux/amd64"
CAP = 5  # routing.max_concurrent_per_account (the default)
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * q) - 1)]


async def load(requests: int, concurrency: int, send) -> tuple[list[float], list[int]]:
    """``requests`` calls of ``send(i)`` with ``concurrency`` in flight; (latencies in s, status codes)."""
    latencies: list[float] = []
    statuses: list[int] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < requests:
            i = next_index
            next_index += 1
            started = time.perf_counter()
            statuses.append(await send(i))
            latencies.append(time.perf_counter() - started)

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    latencies.sort()
    return latencies, statuses


async def run(args: argparse.Namespace, gateway: Gateway) -> list[dict]:
    fake, accounts, pid = gateway.fake, gateway.fake.accounts, gateway.daemon.pid
    limits = httpx.Limits(max_connections=args.concurrency + 10, max_keepalive_connections=args.concurrency + 10)
    errors: list[str] = []
    injected = 0
    rng = random.Random(args.seed)
    faulty = accounts[args.clean:]  # the first --clean accounts never fail: one is always eligible
    rows: list[dict] = []
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def direct(i: int) -> int:
            account = accounts[i % len(accounts)]
            body = {"project": account["project"], "model": MODEL, "request": {
                "contents": [{"role": "user", "parts": [{"text": f"{uuid.uuid4()} {PROMPT}"}]}]}}
            r = await http.post(fake.info["base_url"] + ":streamGenerateContent?alt=sse", json=body,
                                headers={"authorization": f"Bearer {account['access_token']}", "user-agent": UA})
            return r.status_code

        async def proxied(i: int) -> int:
            body = {"model": MODEL, "max_tokens": 50,
                    "messages": [{"role": "user", "content": f"Say {i}. ID: {uuid.uuid4()} {PROMPT}"}]}
            r = await http.post(gateway.url + "/v1/chat/completions", json=body,
                                headers={"authorization": f"Bearer {gateway.api_key}"})
            if r.status_code != 200 and len(errors) < 5:
                errors.append(f"{r.status_code} {r.text[:300]}")
            return r.status_code

        async def proxied_with_faults(i: int) -> int:
            nonlocal injected
            status = await proxied(i)
            if rng.random() < args.fault_rate:  # a 429 waiting for a random account's next request
                fault = {"account": rng.choice(faulty)["email"], "delay": round(rng.uniform(0.1, 2.0), 3)}
                await trio.to_thread.run_sync(functools.partial(fake.inject, "rate_limit", times=1, **fault))
                injected += 1
            return status

        async def phase(name: str, send) -> None:
            await trio.to_thread.run_sync(fake.control, "POST", "/stats/reset")
            cpu0 = proc_cpu(pid)
            latencies, statuses = await load(args.requests, args.concurrency, send)
            cpu = proc_cpu(pid) - cpu0
            stats = await trio.to_thread.run_sync(fake.stats)
            served = {r["email"]: r["count"] for r in stats["requests"] if r["rpc"] == "streamGenerateContent"}
            counts = [served.get(a["email"], 0) for a in accounts]
            row = {"phase": name, "requests": args.requests, "concurrency": args.concurrency,
                   "success_rate": statuses.count(200) / args.requests,
                   "non_200": {str(s): statuses.count(s) for s in set(statuses) if s != 200},
                   "429s_injected": injected if send is proxied_with_faults else 0,
                   "429s_answered": stats["faults_fired"].get("rate_limit", 0),
                   "upstream_calls_per_request": sum(counts) / args.requests,
                   "spread_max_min": f"{max(counts)}/{min(counts)}",
                   "peak_concurrency_per_account": max(stats["peak_concurrency"].values()),
                   "p50_ms": statistics.median(latencies) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3}
            if send is not direct:
                row["daemon_cpu_ms_per_request"] = cpu / args.requests * 1e3
                row["added_p50_ms"] = row["p50_ms"] - rows[0]["p50_ms"]
                row["added_p99_ms"] = row["p99_ms"] - rows[0]["p99_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)

        await load(200, 50, proxied)  # warm-up: connections and tokens
        await phase("direct to the fake", direct)
        await phase("daemon", proxied)
        await phase("daemon, random 429s", proxied_with_faults)
    if errors:
        print("first errors:", *errors, sep="\n  ")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--accounts", type=int, default=20)
    p.add_argument("--fault-rate", type=float, default=0.1, help="429s injected per request sent")
    p.add_argument("--clean", type=int, default=2, help="accounts that never get a 429")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})  # load generator and (inherited) fake on CPU 1
    work = Path(tempfile.mkdtemp(prefix="agd-routing-bench-"))
    accounts = [{"email": f"load{i}@fake.test", "quota_limit": 10**9} for i in range(args.accounts)]
    gateway = start_gateway(work, accounts=accounts, settings={
        "routing.max_concurrent_per_account": CAP, "upstream.max_connections": 1024, "log.level": "warning"})
    try:
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(gateway.daemon.pid)], check=True, capture_output=True)
        rows = trio.run(run, args, gateway)
    finally:
        gateway.close()
    out = ROOT / "bench/results/routing_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
