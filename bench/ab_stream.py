"""A/B of the streaming relay: daemons started from different source trees, one fake, interleaved rounds.

    git worktree add /tmp/base HEAD~1
    PYTHONPATH=. python bench/ab_stream.py /tmp/base . [--c 200] [--streams 600] [--rounds 5] [--direct]
        [--steal 0.2] [--events 1] [--peer-command "…/run.sh {port} {upstream} {fake_info}"]

Why: this machine's run-to-run noise (±30 % between runs, ±15 % between rounds) hides the 2–10 % effects most
changes have. Two daemons measured turn about, against the same fake in the same minutes, agree within ~3 % at the
median; a change is worth keeping when its median ratio beats that. Each tree's daemon runs with
``PYTHONPATH=<tree>`` and its working directory there (``python -m`` puts the working directory first on
``sys.path``), pinned to CPU 0 like the peer; the fake and the load generator share CPU 1. Per round and target: CPU
per stream (from /proc), TTFB p50/p99 and p50 after the first wave ("steady"), streams/s; at the end the medians
and each target's ratio to the first tree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anthropic_stream_bench import (  # noqa: E402  (bench/ is on the path)
    MODEL,
    UA,
    messages_body,
    proc_cpu,
    start_fake,
    start_pinned_daemon,
)
from loadgen import build_request, run_load  # noqa: E402
from peer import Peer  # noqa: E402

from tests.support.process import terminate  # noqa: E402

ANTHROPIC = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trees", nargs="+", help="source trees (the first is the baseline)")
    p.add_argument("--c", type=int, default=200, help="concurrent streams")
    p.add_argument("--streams", type=int, default=600, help="streams per target per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--direct", action="store_true", help="also measure the fake directly")
    p.add_argument("--peer-command", help="also measure another gateway (bench/peer.py)")
    p.add_argument("--events", type=int, default=100,
                   help="upstream events per stream, 5 ms apart (1: what starting a stream costs)")
    p.add_argument("--steal", type=float, default=0.0,
                   help="share of the gateways' core (0-0.9) that another process takes, in 25 ms cycles: a busy "
                        "neighbour or a VPS's steal time")
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})
    work = Path(tempfile.mkdtemp(prefix="agd-ab-"))
    fake = start_fake(work)
    daemons, peer, hog = [], None, None
    try:
        if args.steal:
            hog = start_hog(args.steal)
        for i, tree in enumerate(args.trees):
            daemons.append(start_pinned_daemon(work / f"tree{i}", fake, Path(tree).resolve()))
        prompt = f"[[chunks:{args.events}]] [[delay_ms:5]] benchmark stream"
        body = json.dumps(messages_body(prompt)).encode()
        targets = [(f"tree{i}", build_request("POST", d.url + "/v1/messages", {"x-api-key": d.api_key, **ANTHROPIC},
                                              body), d.pid) for i, d in enumerate(daemons)]
        if args.peer_command:
            peer = Peer(args.peer_command, fake.info, work / "peer")
            peer.pin(0)
            targets.append(("peer", build_request("POST", peer.url + "/v1/messages", ANTHROPIC, body), peer.pid))
        if args.direct:
            account = fake.accounts[0]
            direct = json.dumps({"project": account["project"], "model": MODEL, "request": {
                "contents": [{"role": "user", "parts": [{"text": prompt}]}],
                "generationConfig": {"maxOutputTokens": 16384,
                                     "thinkingConfig": {"thinkingBudget": 16000, "includeThoughts": True}}}}).encode()
            headers = {"authorization": f"Bearer {account['access_token']}", "user-agent": UA,
                       "content-type": "application/json"}
            targets.append(("fake", build_request("POST", fake.info["base_url"] + ":streamGenerateContent?alt=sse",
                                                  headers, direct), None))
        for _, request, _ in targets:  # warm-up
            run_load(*request, 50, 10)
        rows: dict[str, list[tuple[float, float, float, float, float]]] = {name: [] for name, _, _ in targets}
        for round_ in range(args.rounds):
            line = []
            for name, request, pid in targets if round_ % 2 == 0 else targets[::-1]:
                cpu0 = proc_cpu(pid) if pid else 0.0
                result = run_load(*request, args.streams, args.c)
                cpu = (proc_cpu(pid) - cpu0) / args.streams * 1e3 if pid else float("nan")
                ttfb = sorted(result.ttfb)
                steady = result.ttfb_after_first_wave(args.c)
                row = (cpu, statistics.median(ttfb) * 1e3, ttfb[int(len(ttfb) * 0.99) - 1] * 1e3,
                       args.streams / result.wall, statistics.median(steady) * 1e3 if steady else float("nan"))
                rows[name].append(row)
                failed = f" FAILURES {len(result.failures)}" if result.failures else ""
                line.append(f"{name} {row[0]:.2f} ms/stream, TTFB {row[1]:.0f}/{row[2]:.0f} ms (steady {row[4]:.0f}), "
                            f"{row[3]:.0f}/s{failed}")
            print(f"round {round_ + 1}: " + " | ".join(line), flush=True)
        base = statistics.median(r[0] for r in rows["tree0"])
        for name, mine in rows.items():
            cpu = statistics.median(r[0] for r in mine)
            print(f"{name:>6}: CPU {cpu:.2f} ms/stream ({cpu / base:.2f}× tree0), TTFB p50 "
                  f"{statistics.median(r[1] for r in mine):.0f} ms, p99 {statistics.median(r[2] for r in mine):.0f} ms,"
                  f" {statistics.median(r[3] for r in mine):.0f} streams/s, steady TTFB p50 "
                  f"{statistics.median(r[4] for r in mine):.0f} ms")
    finally:
        for daemon in daemons:
            daemon.close()
        if peer is not None:
            peer.close()
        if hog is not None:
            terminate(hog)
        fake.close()


HOG = """
import os, sys, time
busy = float(sys.argv[1]) * 0.025
while True:
    end = time.perf_counter() + busy
    while time.perf_counter() < end:
        pass
    time.sleep(0.025 - busy)
"""


def start_hog(share: float) -> subprocess.Popen:
    """A process on CPU 0 (the gateways' core) busy ``share`` of every 25 ms: the kernel's scheduler gives a
    process back from sleep the core promptly, so the gateways lose about that share of it."""
    if not 0 < share <= 0.9:
        raise SystemExit("--steal must be in (0, 0.9]")
    return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", HOG, str(share)])


if __name__ == "__main__":
    main()
