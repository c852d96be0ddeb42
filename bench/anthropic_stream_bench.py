"""Streaming cost of ``POST /v1/messages`` through the daemon, side by side with the same streams straight from the
fake upstream, in one run (issue 6 benchmark).

    PYTHONPATH=. python bench/anthropic_stream_bench.py [--streams 400] [--slow 1000] [--rounds 3] [--rate 200]
        [--profile] [--peer-command "…/run.sh {port} {upstream} {fake_info}" --peer-name node]

Phases, each against the fake directly (the floor), then for the fast phases the daemon's own synthetic SSE stream
of the same shape (``/api/diagnostics/stream``: no upstream, no translation — what the HTTP server and the event
loop cost by themselves), then through the daemon, then through the peer gateway if one is given (bench/peer.py):

* ``fast c=10`` and ``fast c=200``: streams of 100 upstream events 5 ms apart, ``--rounds`` interleaved rounds
  (the order alternates; medians are printed at the end);
* ``open`` (with ``--rate``): the same streams started at a fixed rate whatever the earlier ones are doing — an
  open loop, where a closed loop at a saturated gateway only shows how it splits its backlog (README);
* ``slow``: ``--slow`` streams all at once, 1 s to the first byte, then 20 events 500 ms apart.

The daemon (and the peer) run pinned to CPU 0 (``taskset``); the fake and the load generator (bench/loadgen.py:
one epoll loop, ~5 µs per received event) share CPU 1. At c=200 the fake's paced writes (one timer for all
streams) let it serve ~350 streams/s on its half of that core: the gateways, asked for 400/s, are saturated.
Reported per phase: streams/s, time to first body byte (p50/p99; in a closed loop also the p50 of the streams
after the first wave of ``c`` simultaneous starts), the gateway's CPU per stream (utime+stime from
``/proc/<pid>/stat`` over the phase ÷ streams) and its RSS (``VmRSS`` after the phase, ``VmHWM`` peak so far).
The machine is shared and noisy: compare the columns of one run, not numbers from different runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadgen import build_request, run_load  # noqa: E402  (bench/ is this script's directory)
from peer import Peer  # noqa: E402

from tests.support.daemon import Daemon, start_daemon, write_config  # noqa: E402
from tests.support.gateway import FakeProcess, upstream_settings  # noqa: E402

FAST = "[[chunks:100]] [[delay_ms:5]] benchmark stream"
SLOW = "[[first_byte_ms:1000]] [[chunks:20]] [[delay_ms:500]] slow benchmark stream"
MODEL = "gemini-3-flash"
UA = "antigravity/1.115.0 linux/amd64"
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (all threads)


def proc_mem(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


class Target:
    """Where the streams go: the daemon's (or a peer's) /v1/messages, or the fake's streamGenerateContent directly;
    ``pid`` is the process whose CPU and memory are reported (None for the fake)."""

    def __init__(self, name: str, url: str, headers: dict[str, str], body: object, method: str = "POST",
                 pid: int | None = None) -> None:
        self.name, self.url, self.headers, self.body, self.method, self.pid = name, url, headers, body, method, pid

    def request(self, prompt: str) -> tuple[str, dict[str, str], bytes | None]:
        return self.url, self.headers, json.dumps(self.body(prompt)).encode() if self.body else None


def phase(target: Target, prompt: str, streams: int, concurrency: int, rate: float | None = None) -> dict:
    url, headers, body = target.request(prompt)
    pid = target.pid
    cpu0 = proc_cpu(pid) if pid else 0.0
    result = run_load(*build_request(target.method, url, headers, body), streams, concurrency, rate=rate)
    cpu = proc_cpu(pid) - cpu0 if pid else 0.0
    ttfb = sorted(result.ttfb)
    steady = result.ttfb_after_first_wave(concurrency) if rate is None else []
    return {"target": target.name, "streams": streams, "c": concurrency if rate is None else f"{rate:g}/s",
            "failures": len(result.failures),
            "streams_s": streams / result.wall, "ttfb_p50_ms": statistics.median(ttfb) * 1e3 if ttfb else None,
            "ttfb_p99_ms": ttfb[max(0, int(len(ttfb) * 0.99) - 1)] * 1e3 if ttfb else None,
            "ttfb_steady_p50_ms": statistics.median(steady) * 1e3 if steady else None,
            "bytes_per_stream": statistics.mean(result.body_bytes) if result.body_bytes else 0,
            "daemon_cpu_ms_per_stream": cpu / streams * 1e3 if pid else None,
            **({f"daemon_{k}_mb": v for k, v in proc_mem(pid).items()} if pid else {})}


def show(row: dict) -> None:
    cpu = row["daemon_cpu_ms_per_stream"]
    mem = f"  RSS {row['daemon_VmRSS_mb']:.0f} MB, peak {row['daemon_VmHWM_mb']:.0f} MB" if cpu is not None else ""
    print(f"  {row['target']:>9}  c={row['c']:<5} {row['streams_s']:8.1f} streams/s"
          f"  TTFB p50 {row['ttfb_p50_ms']:7.1f} ms  p99 {row['ttfb_p99_ms']:7.1f} ms"
          + (f" (after the first wave {row['ttfb_steady_p50_ms']:5.1f})" if row["ttfb_steady_p50_ms"] else "")
          + (f"  CPU {cpu:5.2f} ms/stream" if cpu is not None else "")
          + mem + f"  {row['bytes_per_stream'] / 1024:.1f} KB/stream"
          + (f"  FAILURES {row['failures']}" if row["failures"] else ""), flush=True)


def messages_body(prompt: str) -> dict:
    # A thinking budget, as the Node peer always sets one for Gemini 3 (and then needs max_tokens above it):
    # every target asks the fake for the same reply, thinking part included.
    return {"model": MODEL, "max_tokens": 16384, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 16000}, "messages": [{"role": "user", "content": prompt}]}


def run(args: argparse.Namespace, daemon_url: str, api_key: str, fake: FakeProcess, pid: int,
        peer: Peer | None) -> list[dict]:
    account = fake.accounts[0]
    direct = Target("fake", fake.info["base_url"] + ":streamGenerateContent?alt=sse",
                    {"authorization": f"Bearer {account['access_token']}", "user-agent": UA,
                     "content-type": "application/json"},
                    lambda p: {"project": account["project"], "model": MODEL, "request": {
                        "contents": [{"role": "user", "parts": [{"text": p}]}],
                        "generationConfig": {"maxOutputTokens": 16384,
                                             "thinkingConfig": {"thinkingBudget": 16000, "includeThoughts": True}}}})
    anthropic = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    daemon = Target("daemon", daemon_url + "/v1/messages", {"x-api-key": api_key, **anthropic}, messages_body, pid=pid)
    synthetic = Target("synthetic", daemon_url + "/api/diagnostics/stream?events=100&interval_ms=5",
                       {"authorization": f"Bearer {api_key}"}, None, method="GET", pid=pid)
    others = [Target(args.peer_name, peer.url + "/v1/messages", anthropic, messages_body, pid=peer.pid)] if peer else []
    rows = []
    print(f"daemon idle: {proc_mem(pid)}", flush=True)
    for target in (direct, daemon, *others):  # warm-up: connections, caches, JITs
        phase(target, FAST, 50, 10)
    for label, prompt, streams, concurrency, rate in (
            ("fast", FAST, args.streams, 10, None), ("fast", FAST, args.streams, 200, None),
            ("open", FAST, args.streams if args.rate else 0, 0, args.rate), ("slow", SLOW, args.slow, args.slow, None)):
        if not streams:
            continue
        targets = [direct, *([synthetic] if label == "fast" else []), daemon, *others]
        rounds = args.rounds if label in ("fast", "open") else 1
        for round_ in range(rounds):
            load = f"{rate:g} streams/s" if rate else f"c={concurrency}"
            print(f"{label} {load}, {streams} streams, round {round_ + 1} of {rounds}:", flush=True)
            for target in targets if round_ % 2 == 0 else targets[::-1]:  # alternate who goes first
                profiler = None
                if args.profile and target is daemon and label == "fast" and concurrency == 200 and round_ == 0:
                    out = ROOT / "bench/results/stream_profile.txt"
                    out.parent.mkdir(exist_ok=True)
                    py_spy = str(Path(sys.executable).with_name("py-spy"))
                    profiler = subprocess.Popen([py_spy, "record", "-p", str(pid), "-r", "250", "--format", "raw",
                                                 "-o", str(out)], stderr=subprocess.DEVNULL)
                row = phase(target, prompt, streams, concurrency, rate)
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                    profiler.wait()
                row["phase"], row["round"] = label, round_ + 1
                rows.append(row)
                show(row)
    print("medians over the rounds:")
    for label, concurrency in {(r["phase"], r["c"]): None for r in rows}:
        for name in {r["target"]: None for r in rows if r["phase"] == label and r["c"] == concurrency}:
            mine = [r for r in rows if (r["phase"], r["c"], r["target"]) == (label, concurrency, name)]
            merged = {key: statistics.median(r[key] for r in mine) if isinstance(mine[0][key], float) else mine[0][key]
                      for key in mine[0]}
            merged["failures"] = sum(r["failures"] for r in mine)
            show(merged)
    return rows


def start_fake(work: Path) -> FakeProcess:
    """The fake with four accounts and no quota to speak of, replaying repeated answers (see module docstring)."""
    accounts = [{"email": f"bench{i}@fake.test", "quota_limit": 10**9} for i in range(4)]
    return FakeProcess(work / "fake", {"accounts": accounts, "behaviour": {"reuse_replies": True}})


def start_pinned_daemon(home: Path, fake: FakeProcess, tree: Path = ROOT) -> Daemon:
    """A daemon run from the source ``tree`` with the fake's accounts imported, pinned to CPU 0."""
    settings = {**upstream_settings(fake.info), "routing.max_concurrent_per_account": 1000,
                "upstream.max_connections": 2048, "server.max_connections": 4096, "log.level": "warning"}
    home.mkdir(parents=True, exist_ok=True)
    config = write_config(home / "import.toml", {"data_dir": str(home / "data"), **settings})
    seed = home / "accounts.json"
    seed.write_text(json.dumps([{"email": a["email"], "refresh_token": a["refresh_token"]} for a in fake.accounts]))
    # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH: both must be the tree, or an
    # A/B run started from one checkout measures that checkout twice.
    env = {"PYTHONPATH": str(tree)}
    where = subprocess.run([sys.executable, "-c", "import antigravityd; print(antigravityd.__file__)"], check=True,
                           capture_output=True, text=True, cwd=tree, env={**os.environ, **env}).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"a daemon for {tree} would import {where}")
    subprocess.run([sys.executable, "-m", "antigravityd", "--config", str(config), "accounts", "import", str(seed)],
                   check=True, capture_output=True, cwd=tree, env={**os.environ, **env})
    daemon = start_daemon(home, settings=settings, env=env, cwd=tree)
    subprocess.run(["taskset", "-a", "-p", "-c", "0", str(daemon.pid)], check=True, capture_output=True)
    return daemon


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=400)
    p.add_argument("--slow", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0.0,
                   help="also an open-loop phase: --streams fast streams started at this rate (per second)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the fast phases (medians reported)")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--peer-command", help="also measure another gateway started by this command (bench/peer.py)")
    p.add_argument("--peer-name", default="peer", help="its label in the results")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the daemon during the first fast c=200 round (collapsed stacks in bench/results/)")
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1000 streams = 3000+ sockets across processes
    os.sched_setaffinity(0, {1})  # load generator and (inherited) fake on CPU 1
    work = Path(tempfile.mkdtemp(prefix="agd-bench-"))
    fake = start_fake(work)
    daemon = peer = None
    try:
        daemon = start_pinned_daemon(work / "daemon", fake)
        if args.peer_command:
            peer = Peer(args.peer_command, fake.info, work / "peer")
            peer.pin(0)  # measured on the daemon's core, one after the other
        rows = run(args, daemon.url, daemon.api_key, fake, daemon.pid, peer)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    finally:
        if peer is not None:
            peer.close()
        if daemon is not None:
            daemon.close()
        fake.close()


if __name__ == "__main__":
    main()
