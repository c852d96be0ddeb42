"""Proxy overhead (issue 4): the daemon's OpenAI Chat (or, ``--api anthropic``, Messages) endpoint against the fake
upstream, side by side with the same requests sent to the fake directly, in the same run.

The daemon is pinned to CPU 0; the fake upstream and this load generator share CPU 1 (taskset). For each mode
(non-stream, 100-event stream) and concurrency (1, 10, 50) it reports req/s, latency p50/p99, time to first byte,
and the daemon's CPU time per request — utime+stime from /proc/<pid>/stat divided by requests, the most stable
figure on a noisy machine.

``--transports h11,httpx`` repeats every row with the daemon's upstream client on httpx's own transport (httpcore;
``upstream.proxy_from_env``) after ours, for the A/B behind the choice of transport. ``--peer-command`` adds
another gateway (e.g. a Node Antigravity proxy pointed at the fake; ``bench/peer.py``), pinned to the same core
and measured the same way, one after the other.

Usage: python bench/proxy_bench.py [--requests 400] [--concurrency 1,10,50] [--accounts 12] [--transports h11]
                                   [--modes non-stream,stream] [--api openai|anthropic]
                                   [--peer-command CMD --peer-name NAME] [--profile]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from functools import partial
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peer import Peer  # noqa: E402  (bench/ is this script's directory)

from tests.support.daemon import start_daemon, write_config  # noqa: E402
from tests.support.gateway import upstream_settings  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def pin(pid: int, cpu: int) -> None:
    subprocess.run(["taskset", "-pc", str(cpu), str(pid)], check=True, capture_output=True)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def run_load(url: str, headers: dict[str, str], make_body, *, n: int, concurrency: int,
                   stream: bool) -> dict[str, float]:
    latencies: list[float] = []
    ttfbs: list[float] = []
    errors = 0
    limiter = trio.CapacityLimiter(concurrency)
    async with httpx.AsyncClient(timeout=120, headers=headers,
                                 limits=httpx.Limits(max_connections=concurrency,
                                                     max_keepalive_connections=concurrency)) as http:
        async def one(i: int) -> None:
            nonlocal errors
            async with limiter:
                started = trio.current_time()
                try:
                    if stream:
                        async with http.stream("POST", url, json=make_body(i)) as r:
                            first = None
                            async for _ in r.aiter_raw():
                                if first is None:
                                    first = trio.current_time()
                            ok = r.status_code == 200
                        ttfbs.append((first or trio.current_time()) - started)
                    else:
                        r = await http.post(url, json=make_body(i))
                        ok = r.status_code == 200
                        ttfbs.append(trio.current_time() - started)
                except httpx.HTTPError:
                    ok = False
                latencies.append(trio.current_time() - started)
                errors += not ok

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
        elapsed = trio.current_time() - started
    return {"rps": n / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "ttfb_p50_ms": statistics.median(ttfbs) * 1000,
            "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--transports", default="h11", help="h11 (ours), httpx (httpcore), or both: h11,httpx")
    parser.add_argument("--modes", default="non-stream,stream")
    parser.add_argument("--api", choices=["openai", "anthropic"], default="openai",
                        help="the endpoint measured: /v1/chat/completions or /v1/messages (with a thinking budget)")
    parser.add_argument("--peer-command", help="also measure another gateway started by this command (bench/peer.py); "
                                               "it must serve --api")
    parser.add_argument("--peer-name", default="peer", help="its label in the results")
    parser.add_argument("--profile", action="store_true", help="py-spy the daemon during the c=10 non-stream run")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    transports = args.transports.split(",")
    modes = [m == "stream" for m in args.modes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fake = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--accounts", str(args.accounts),
                                 "--quota-limit", "100000000"], cwd=ROOT, stdout=subprocess.PIPE)
        info = json.loads(fake.stdout.readline())
        pin(fake.pid, 1)
        config = write_config(work / "import.toml", {"data_dir": str(work / "d" / "data"), **upstream_settings(info)})
        seed = work / "accounts.json"
        seed.write_text(json.dumps([{"email": a["email"], "refresh_token": a["refresh_token"]}
                                    for a in info["accounts"]]))
        subprocess.run([sys.executable, "-m", "antigravityd", "--config", str(config), "accounts", "import",
                        str(seed)], check=True, capture_output=True)
        daemons, gateways = [], {}  # gateway name -> (url, pid): each transport of ours, then the peer
        for transport in transports:
            daemon = start_daemon(work / transport, settings={
                **upstream_settings(info), "data_dir": str(work / "d" / "data"), "server.access_log": False,
                "log.level": "warning", "routing.max_concurrent_per_account": 50,
                "upstream.proxy_from_env": transport == "httpx"})
            daemons.append(daemon)
            pin(daemon.pid, 0)
            gateways[transport] = (daemon.url, daemon.pid)
        peer = None
        if args.peer_command:
            peer = Peer(args.peer_command, info, work / "peer")
            peer.pin(0)
            gateways[args.peer_name] = (peer.url, peer.pid)
        pin(os.getpid(), 1)
        path = "/v1/messages" if args.api == "anthropic" else "/v1/chat/completions"
        # A thinking budget on the Anthropic path, as the Node peer always sets one for Gemini 3 (and then needs
        # max_tokens above it); the direct requests ask the fake for the same reply.
        thinking = args.api == "anthropic"
        account = info["accounts"][0]
        direct_headers = {"authorization": f"Bearer {account['access_token']}",
                          "user-agent": "antigravity/1.115.0 linux/amd64"}
        results = []
        try:
            for stream in modes:
                prompt = f"[[chunks:{args.events}]]" if stream else "hello"

                def proxy_body(i: int, stream: bool = stream, prompt: str = prompt) -> dict:
                    body = {"model": "gemini-3-flash", "stream": stream,
                            "messages": [{"role": "user", "content": f"{prompt} {i} {uuid.uuid4().hex[:6]}"}]}
                    if thinking:
                        body.update(max_tokens=16384, thinking={"type": "enabled", "budget_tokens": 16000})
                    return body

                def direct_body(i: int, prompt: str = prompt) -> dict:
                    request: dict = {"contents": [{"role": "user", "parts": [{"text": f"{prompt} {i}"}]}]}
                    if thinking:
                        request["generationConfig"] = {"maxOutputTokens": 16384, "thinkingConfig": {
                            "thinkingBudget": 16000, "includeThoughts": True}}
                    return {"project": account["project"], "model": "gemini-3-flash", "userAgent": "antigravity",
                            "requestType": "agent", "requestId": f"agent-{i}", "request": request}

                direct_url = info["base_url"] + ":streamGenerateContent?alt=sse"
                for url, _ in gateways.values():
                    trio.run(partial(run_load, url + path, {}, proxy_body, n=50,
                                     concurrency=10, stream=stream))  # warm-up (token refresh, connections)
                for c, (gateway, (url, pid)) in itertools.product(levels, gateways.items()):
                    n = max(args.requests, c * 10)
                    direct = trio.run(partial(run_load, direct_url, direct_headers, direct_body, n=n,
                                              concurrency=c, stream=True))
                    profiler = None
                    if args.profile and c == 10 and not stream and gateway in transports:
                        py_spy = str(Path(sys.executable).with_name("py-spy"))
                        profiler = subprocess.Popen([py_spy, "record", "-p", str(pid), "-r", "250",
                                                     "--format", "raw", "-o",
                                                     str(ROOT / "bench/results/proxy_profile.txt")],
                                                    stderr=subprocess.DEVNULL)
                    before = cpu_seconds(pid)
                    proxied = trio.run(partial(run_load, url + path, {}, proxy_body, n=n,
                                               concurrency=c, stream=stream))
                    cpu = cpu_seconds(pid) - before
                    if profiler is not None:
                        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                        profiler.wait()
                    row = {"mode": "stream" if stream else "non-stream", "api": args.api, "gateway": gateway,
                           "concurrency": c, "requests": n,
                           "direct": direct, "proxied": proxied,
                           "added_p50_ms": proxied["p50_ms"] - direct["p50_ms"],
                           "cpu_ms_per_request": cpu / n * 1000}
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            if peer is not None:
                peer.close()
            for daemon in daemons:
                daemon.stop()
                daemon.close()
            fake.terminate()
            fake.wait()
    out = ROOT / "bench/results/proxy.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
