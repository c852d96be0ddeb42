"""Admin API cost at 10, 100 and 1,000 accounts (each with a 6-model quota): the pages the web UI polls
(``/api/accounts`` every 10 s, ``/api/resilience/*`` every 5 s, ``/api/monitor/requests`` every 3 s), timed
against ``/health`` measured in the same run as the baseline; and the worst ``/health`` latency while a client
polls ``/api/accounts`` back to back (how long the listing stalls the event loop that also serves proxy traffic).

Runs the daemon's services and HTTP server in this process on SQLite (same code as ``serve``).

Usage: python bench/admin_api.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot  # noqa: E402
from tests.admin.harness import request_row  # noqa: E402
from tests.admin.inproc import in_process_daemon  # noqa: E402

MODELS = ["gemini-3-flash", "gemini-3.1-pro-high", "gemini-3.1-pro-low", "claude-sonnet-4-6",
          "claude-opus-4-6-thinking", "gemini-3.1-flash-image"]
PATHS = ["/health", "/api/status", "/api/accounts", "/api/resilience/health", "/api/resilience/aimd",
         "/api/monitor/requests?limit=100", "/api/monitor/stats?by=hour"]


async def grow_to(services, count: int) -> None:
    have = len(await services.repo.list_accounts())
    now = datetime.now(UTC)
    for i in range(have, count):
        quota = QuotaSnapshot({m: ModelQuota((i % 100) / 100, now + timedelta(hours=i % 5)) for m in MODELS})
        await services.repo.upsert_account(AccountDraft(
            email=f"bench-{i}@example.com", refresh_token=f"1//{uuid.uuid4().hex}", access_token="ya29.x",
            expires_at=time.time() + 86400, project_id=f"p{i}", project_source="upstream", tier="g1-pro-tier",
            quota=quota))
    await services.registry.reload()


async def measure(http, path: str, rounds: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(rounds):
        started = time.perf_counter()
        r = await http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
        size = len(r.content)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], size


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with in_process_daemon(Path(tmp) / "data") as d:
            await d.services.repo.insert_requests([request_row() for _ in range(2000)])
            for count in (10, 100, 1000):
                await grow_to(d.services, count)
                print(f"\n{count} accounts")
                base, _, _ = await measure(d.http, "/health", rounds)
                for path in PATHS:
                    p50, p95, size = await measure(d.http, path, rounds)
                    print(f"  {path:36s} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({p50 / base:5.1f}× /health)  "
                          f"{size / 1024:8.1f} KiB")
                print(f"  worst /health latency while /api/accounts is polled: {await stall(d.http, rounds):.1f} ms")


async def stall(http, rounds: int) -> float:
    worst = 0.0
    done = trio.Event()

    async def poll_accounts() -> None:
        for _ in range(max(3, rounds // 5)):
            await http.get("/api/accounts")
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll_accounts)
        while not done.is_set():
            started = time.perf_counter()
            await http.get("/health")
            worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    trio.run(main, parser.parse_args().rounds)
