"""HTTP server benchmark (issue 2): /health and a 100-event SSE stream under wrk, RSS with 1,000 open streams,
and the time from process start to READY=1. Every figure is printed next to a baseline measured in the same
run (a bare trio + h11 server, bench/baseline_h11.py), because this 2-core machine is noisy.

The server under test is pinned to CPU 0 and the load generator to CPU 1 (taskset).

Usage: python bench/http_bench.py [--seconds 10] [--connections 50] [--streams 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.daemon import TEST_API_KEY, start_daemon  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.notify import NotifyListener  # noqa: E402

AUTH = f"authorization: Bearer {TEST_API_KEY}"


def wrk(url: str, seconds: int, connections: int, header: str | None = None) -> dict[str, float]:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if header:
        cmd[5:5] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "errors": errors.group(0) if errors else ""}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def open_streams(port: int, count: int, events: int, interval_ms: int, pid: int) -> dict[str, float]:
    """Hold ``count`` SSE streams open at once; sample the daemon's RSS once every stream is flowing."""
    flowing = 0
    all_flowing = trio.Event()
    samples: list[int] = []
    request = (f"GET /api/diagnostics/stream?events={events}&interval_ms={interval_ms} HTTP/1.1\r\n"
               f"host: x\r\n{AUTH}\r\nconnection: close\r\n\r\n").encode()

    async def one() -> None:
        nonlocal flowing
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            first = True
            while data := await stream.receive_some(65536):
                if first and b"data:" in data:
                    first = False
                    flowing += 1
                    if flowing == count:
                        all_flowing.set()

    async def sampler() -> None:
        await all_flowing.wait()
        for _ in range(10):
            samples.append(rss_kb(pid))
            await trio.sleep(interval_ms / 1000)

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sampler)
        for _ in range(count):
            nursery.start_soon(one)
    return {"streams": count, "rss_mb_while_open": max(samples) / 1024, "peak_rss_mb": rss_kb(pid, "VmHWM") / 1024,
            "seconds": time.monotonic() - started}


def time_to_ready(runs: int) -> list[float]:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            notify = NotifyListener()
            env = {**os.environ, "NOTIFY_SOCKET": notify.address, "ANTIGRAVITY_DATA_DIR": tmp,
                   "ANTIGRAVITY_PORT": str(free_port())}
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "antigravityd", "serve"], env=env,
                                    stderr=subprocess.DEVNULL)
            notify.wait_for("READY=1", timeout=30)
            results.append(time.monotonic() - started)
            proc.terminate()
            proc.wait()
            notify.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        baseline_port = free_port()
        baseline = subprocess.Popen(["taskset", "-c", "0", sys.executable, str(ROOT / "bench/baseline_h11.py"),
                                     str(baseline_port)])
        for access_log in (True, False):
            daemon = start_daemon(Path(tmp) / f"d{access_log}",
                                  settings={"server.access_log": access_log, "log.level": "warning"})
            subprocess.run(["taskset", "-pc", "0", str(daemon.pid)], check=True, capture_output=True)
            label = "access_log_on" if access_log else "access_log_off"
            try:
                wrk(daemon.url + "/health", 2, args.connections)  # warm-up
                results[f"health_{label}"] = wrk(daemon.url + "/health", args.seconds, args.connections)
                sse = wrk(daemon.url + "/api/diagnostics/stream?events=100", args.seconds, args.connections, AUTH)
                sse["events_per_s"] = sse["rps"] * 101
                results[f"sse100_{label}"] = sse
                if not access_log:
                    results["idle_rss_mb"] = rss_kb(daemon.pid) / 1024
                    port = int(daemon.url.rsplit(":", 1)[1])
                    results["open_streams"] = trio.run(open_streams, port, args.streams, 50, 200, daemon.pid)
            finally:
                daemon.stop()
                daemon.close()
        results["health_baseline"] = wrk(f"http://127.0.0.1:{baseline_port}/health", args.seconds, args.connections)
        sse = wrk(f"http://127.0.0.1:{baseline_port}/sse", args.seconds, args.connections)
        sse["events_per_s"] = sse["rps"] * 101
        results["sse100_baseline"] = sse
        baseline.terminate()
        baseline.wait()
    ready = time_to_ready(5)
    results["ready_s"] = {"median": statistics.median(ready), "max": max(ready)}
    for key in ("health_access_log_on", "health_access_log_off"):
        results[key]["ratio_to_baseline"] = results[key]["rps"] / results["health_baseline"]["rps"]
    for key in ("sse100_access_log_on", "sse100_access_log_off"):
        results[key]["ratio_to_baseline"] = results[key]["rps"] / results["sse100_baseline"]["rps"]
    out = ROOT / "bench/results/http.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
