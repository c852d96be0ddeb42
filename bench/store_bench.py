"""Request-log benchmark: batched insert throughput and dashboard query latency over N rows, both backends.

    PYTHONPATH=. python bench/store_bench.py [--rows 1000000] [--batch 2000] [--backend sqlite|postgres|both]
                                             [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Inserts go through ``Repository.insert_requests`` (validation, dedupe, hourly rollup: the recorder's path), in
sequential batches like the write-behind task. A baseline in the same run inserts the same rows into a bare table
(no indexes, no rollup: COPY on PostgreSQL, executemany on SQLite) so the ratio shows what the schema costs.
Queries are timed after the load (median and p95 of repeated runs). PostgreSQL: a fresh database on the given
server (default: the local one; fsync and all as configured there). Results also go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import trio

from antigravityd.store import Repository, RequestRecord, open_repository, sqlite_path
from tests.support import pg

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = 30
ACCOUNTS = [str(uuid.uuid4()) for _ in range(50)]
MODELS = ["claude-sonnet-4-6", "claude-opus-4-6-thinking", "gemini-3-flash", "gemini-3.1-pro-high", "gemini-2.5-pro",
          "gemini-2.5-flash", "claude-haiku-4-5", "gpt-oss-120b", "gemini-3-pro-image", "claude-sonnet-4-5",
          "gemini-2.5-flash-lite", "gemini-3.1-flash"]
DIALECTS = ["openai", "anthropic", "gemini"]
SPREAD = DAYS * 86400


def rows(n: int, seed: int = 7) -> Iterator[RequestRecord]:
    """n rows spread over the last 30 days: 50 accounts, 12 models, 3 dialects, 5 % errors."""
    rnd = random.Random(seed)
    for i in range(n):
        account = rnd.choice(ACCOUNTS)
        status = 200 if rnd.random() > 0.05 else rnd.choice([429, 500, 503, 400])
        yield RequestRecord(
            request_id=f"{i:012d}-{uuid.UUID(int=rnd.getrandbits(128)).hex[:12]}",
            ts=NOW - timedelta(seconds=SPREAD * (i / n)), dialect=rnd.choice(DIALECTS),
            path="/v1/messages", status=status, requested_model="alias", mapped_model=rnd.choice(MODELS),
            account_id=account, account_email=f"{account[:8]}@example.com",
            error_class=None if status < 400 else "rate_limited", tokens_in=rnd.randint(100, 50_000),
            tokens_out=rnd.randint(10, 4000), tokens_cached=rnd.randint(0, 20_000),
            tokens_thinking=rnd.randint(0, 2000), latency_ms=rnd.randint(200, 60_000), ttfb_ms=rnd.randint(100, 5000),
            stream=rnd.random() < 0.8)


def batches(n: int, size: int) -> Iterator[list[RequestRecord]]:
    batch: list[RequestRecord] = []
    for r in rows(n):
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def insert_all(repo: Repository, prepared: list[list[RequestRecord]], writers: int = 1) -> tuple[float, int]:
    """Wall time to insert pre-generated batches with ``writers`` concurrent tasks (the recorder uses 2, so that
    one batch's Python work overlaps the other's SQL)."""
    pending = iter(prepared)
    inserted = 0

    async def writer() -> None:
        nonlocal inserted
        for batch in pending:  # the tasks share one iterator: each batch is inserted once
            n = await repo.insert_requests(batch)
            inserted += n  # not "inserted += await ...": that reads the total before the await

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(writers):
            nursery.start_soon(writer)
    return time.perf_counter() - start, inserted


def tuples(batch: list[RequestRecord]) -> list[tuple]:
    return [(r.request_id, r.ts, r.account_id, r.account_email, r.dialect, r.path, r.requested_model, r.mapped_model,
             r.status, r.error_class, r.tokens_in, r.tokens_out, r.tokens_cached, r.tokens_thinking, r.latency_ms,
             r.ttfb_ms, r.stream) for r in batch]


COLUMNS = ("request_id text, ts timestamptz, account_id uuid, account_email text, dialect text, path text, "
           "requested_model text, mapped_model text, status smallint, error_class text, tokens_in int, "
           "tokens_out int, tokens_cached int, tokens_thinking int, latency_ms int, ttfb_ms int, stream bool")


def baseline_postgres(url: str, n: int, size: int) -> float:
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE bench_bare ({COLUMNS})")
        conn.commit()
        elapsed = 0.0
        for batch in batches(n, size):
            values = tuples(batch)
            start = time.perf_counter()
            with conn.cursor().copy("COPY bench_bare FROM STDIN") as copy:
                for t in values:
                    copy.write_row(t)
            conn.commit()
            elapsed += time.perf_counter() - start
        conn.execute("DROP TABLE bench_bare")
        conn.commit()
    return elapsed


def baseline_sqlite(path: Path, n: int, size: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE bench_bare ({COLUMNS.replace('timestamptz', 'real').replace('uuid', 'text')})")
    elapsed = 0.0
    for batch in batches(n, size):
        values = [(t[0], t[1].timestamp(), *t[2:]) for t in tuples(batch)]
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO bench_bare VALUES ({', '.join('?' * 17)})", values)
        conn.execute("COMMIT")
        elapsed += time.perf_counter() - start
    conn.execute("DROP TABLE bench_bare")
    conn.close()
    return elapsed


def queries(repo: Repository) -> dict[str, Callable[[], Awaitable[object]]]:
    day, month = NOW - timedelta(hours=24), NOW - timedelta(days=DAYS)
    mid = NOW - timedelta(days=3)
    return {
        "stats by hour, last 24 h": lambda: repo.request_stats("hour", since=day),
        "stats by day, 30 days": lambda: repo.request_stats("day", since=month),
        "stats by model, 30 days": lambda: repo.request_stats("model", since=month),
        "stats by account, 30 days": lambda: repo.request_stats("account", since=month),
        "token totals + cache rate, 30 days": lambda: repo.token_totals(since=month),
        "recent 100": lambda: repo.recent_requests(limit=100),
        "recent 100, errors only": lambda: repo.recent_requests(limit=100, errors_only=True),
        "recent 100, one account": lambda: repo.recent_requests(limit=100, account_id=ACCOUNTS[0]),
        "recent 100, one model": lambda: repo.recent_requests(limit=100, model=MODELS[3]),
        "recent 100, one dialect": lambda: repo.recent_requests(limit=100, dialect="gemini"),
        "recent 100, page from 3 days ago": lambda: repo.recent_requests(limit=100, before=(mid, "~")),
    }


async def time_queries(repo: Repository, runs: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, call in queries(repo).items():
        await call()  # warm
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        out[name] = {"median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))]}
    return out


async def bench_backend(backend: str, args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="agd-bench-"))
    url = ""
    if backend == "postgres":
        url = pg.create_database(args.pg_url)
    try:
        repo = await open_repository(url, data_dir=tmp, statement_timeout=60)
        try:
            prepared = list(batches(args.rows, args.batch))  # generated before the clock starts
            elapsed, inserted = await insert_all(repo, prepared, args.writers)
            del prepared
            assert inserted == args.rows, (inserted, args.rows)
            totals = await repo.token_totals(since=NOW - timedelta(days=DAYS + 1))
            assert totals.requests == args.rows
            print(f"[{backend}] inserted {inserted:,} rows in {elapsed:.1f} s: {inserted / elapsed:,.0f} rows/s",
                  flush=True)
            if backend == "postgres":
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE")
            else:
                await trio.to_thread.run_sync(_sqlite_analyze, sqlite_path(tmp))
            latencies = await time_queries(repo, args.runs)
        finally:
            await repo.aclose()
        base = await trio.to_thread.run_sync(
            lambda: baseline_postgres(url, args.rows, args.batch) if backend == "postgres"
            else baseline_sqlite(tmp / "bare.db", args.rows, args.batch))
        print(f"[{backend}] baseline (bare table, no indexes): {args.rows / base:,.0f} rows/s", flush=True)
        return {"rows": args.rows, "batch": args.batch, "writers": args.writers, "insert_s": elapsed,
                "insert_rows_per_s": args.rows / elapsed, "baseline_rows_per_s": args.rows / base,
                "insert_vs_baseline": base / elapsed, "queries": latencies}
    finally:
        if url:
            pg.drop_database(args.pg_url, url)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _sqlite_analyze(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000, help="rows per insert (the recorder's batch_max)")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per query")
    ap.add_argument("--writers", type=int, default=1, help="concurrent insert tasks")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--pg-url", default=pg.LOCAL_DSN)
    args = ap.parse_args()
    results = {"when": datetime.now(UTC).isoformat(), "args": vars(args)}
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        results[backend] = trio.run(bench_backend, backend, args)
    print()
    for backend in ("sqlite", "postgres"):
        if backend not in results:
            continue
        r = results[backend]
        print(f"== {backend}: {r['rows']:,} rows, batches of {r['batch']}, {r['writers']} writer(s)")
        print(f"   insert: {r['insert_rows_per_s']:,.0f} rows/s  (bare-table baseline {r['baseline_rows_per_s']:,.0f}"
              f" rows/s; ratio {r['insert_vs_baseline']:.2f})")
        for name, q in r["queries"].items():
            print(f"   {name:36} median {q['median_ms']:7.2f} ms   p95 {q['p95_ms']:7.2f} ms")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"store_bench_{int(time.time())}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
