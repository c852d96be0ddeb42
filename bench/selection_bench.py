"""Selection cost per request with 1, 100 and 1,000 accounts: the pool's default selector vs the O(n) scan.

The default ("auto") scans pools of up to 16 accounts and keeps per-model indexes for larger ones (index.py).
"select µs" is wall time per select call; "req CPU µs" is process CPU time per whole request (select,
record_success, release). Pools have mixed tiers, varied per-model quotas, a share of locked accounts (model and
project locks of varied length) and some disabled ones. A fixed number of requests is kept in flight (steady
state) and the injected clock advances 10 ms per request (100 req/s), so that locks expire and AIMD windows roll
while we measure (at 100 req/s most accounts of a small pool run over their learned AIMD ceiling, which
exercises the soft-filter path too). Each configuration runs ``--repeat`` times with different random pools and
the best run is reported, because on a shared machine noise only ever adds time; the calibration line lets two
runs on different machines or loads be compared. The scan gets a tenth of the requests (it is that slow). Run:

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/selection_bench.py
"""

from __future__ import annotations

import argparse
import random
import time
from collections import deque

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.routing.lease import Lease
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.quota import ModelQuota
from antigravityd.routing.state import AccountSnapshot, PoolSettings

TIERS = ["ws-ai-ultra-business-tier", "g1-ultra-tier", "g1-pro-tier", "g1-pro-tier", "free-tier", "free-tier", None]
MODELS = ["claude-sonnet-4-6", "gemini-3-flash", "gemini-3.1-pro-high", "claude-opus-4-6-thinking"]
WALL = 1_800_000_000.0


def build(n: int, *, selector: str, seed: int = 1) -> AccountPool:
    rng = random.Random(seed)
    pool = AccountPool(PoolSettings(), selector=selector)  # type: ignore[arg-type]
    for i in range(n):
        quota = {m: ModelQuota(rng.choice([1.0, 1.0, rng.random()]), WALL + 3600) for m in MODELS}
        pool.upsert(AccountSnapshot(
            id=f"acc-{i:05d}", email=f"user{i}@example.com", tier_id=rng.choice(TIERS),
            project_id=f"proj-{i // 3}", enabled=rng.random() > 0.05, quota=quota,
        ))
    # Lock ~20 % of the accounts for a model (a third of those through their project), for 1 s … 10 min.
    for i in rng.sample(range(n), k=n // 5):
        pool.report_failure(f"acc-{i:05d}", Failure(FailureKind.RATE_LIMITED, retry_after=rng.uniform(1, 600)),
                            model=rng.choice(MODELS[:2]), now=0.0, wall=WALL)
    return pool


def run(n: int, *, selector: str, requests: int, in_flight: int, seed: int = 1) -> tuple[float, float, int]:
    """Returns (µs per select (wall), CPU µs per select+success+release, failed selections)."""
    pool = build(n, selector=selector, seed=seed)
    rng = random.Random(seed)
    models = [rng.choice(MODELS[:2]) for _ in range(requests)]
    held: deque[Lease] = deque()
    now = 1.0
    select_time = 0.0
    unavailable = 0
    clock = time.perf_counter
    start_cpu = time.process_time()
    for model in models:
        now += 0.01
        if len(held) >= in_flight:
            held.popleft().release()
        t0 = clock()
        got = pool.select(model, now=now)
        select_time += clock() - t0
        if isinstance(got, Lease):
            pool.record_success(got, now=now, latency=0.5)
            held.append(got)
        else:
            unavailable += 1
    total = time.process_time() - start_cpu
    while held:
        held.popleft().release()
    return select_time / requests * 1e6, total / requests * 1e6, unavailable


def calibration() -> float:
    """µs for a fixed pure-Python workload (1,000 dict look-ups and attribute reads), to scale the numbers above
    between machines and loads: divide a result by this figure to compare runs."""
    table = {f"k{i}": i for i in range(1000)}
    keys = list(table)

    def work() -> int:
        return sum(table.get(k, 0) for k in keys)

    best = float("inf")
    for _ in range(50):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per configuration; the best one is reported")
    args = parser.parse_args()
    print(f"calibration (1,000 dict look-ups): {calibration():.1f} µs")
    print(f"{'accounts':>8} {'in flight':>9} {'selector':>8} {'select µs':>10} {'req CPU µs':>11} {'unavail':>7}")
    for n in (1, 100, 1000):
        for in_flight in sorted({1, min(200, 3 * n)}):
            results = {}
            for selector in ("auto", "scan"):
                count = args.requests if selector == "auto" or n < 100 else max(500, args.requests // 10)
                runs = [run(n, selector=selector, requests=count, in_flight=in_flight, seed=seed)
                        for seed in range(1, args.repeat + 1)]
                sel = min(r[0] for r in runs)  # best of N: the machine is shared, noise only adds time
                req = min(r[1] for r in runs)
                unavailable = max(r[2] for r in runs)
                results[selector] = sel
                print(f"{n:>8} {in_flight:>9} {selector:>8} {sel:>10.1f} {req:>11.1f} {unavailable:>7}")
            print(f"{'':>8} {'':>9} {'scan/auto':>8} {results['scan'] / results['auto']:>9.1f}x")


if __name__ == "__main__":
    main()
