"""``python -m tests.fake_upstream --port N [--accounts N] [--seed-file F]``: serve the fake until SIGTERM/SIGINT.

Prints one JSON line on stdout once listening::

    {"root_url": ..., "base_url": ..., "token_url": ..., "userinfo_url": ..., "auth_url": ...,
     "client_id": ..., "client_secret": ..., "accounts": [{"email", "refresh_token", "access_token", ...}]}

``--seed-file`` is a JSON file ``{"accounts": [{"email", "refresh_token"?, "tier"?, "project"?, "models"?, ...}],
"strict": {...}, "behaviour": {...}}``; ``--accounts N`` adds N generated accounts (``fake-N@fake.test``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import trio

from .app import run_fake_upstream
from .settings import apply_changes
from .state import AUTO


async def main(args: argparse.Namespace) -> None:
    seed = json.loads(Path(args.seed_file).read_text()) if args.seed_file else {}
    async with run_fake_upstream(host=args.host, port=args.port, seed=args.seed, client_id=args.client_id,
                                 client_secret=args.client_secret) as fake:
        apply_changes(fake.strict, seed.get("strict", {}))
        apply_changes(fake.behaviour, seed.get("behaviour", {}))
        fake.behaviour.coalesce_events |= args.coalesce
        for entry in seed.get("accounts", []):
            spec = dict(entry)
            email = spec.pop("email")
            spec.setdefault("project", AUTO)
            fake.add_account(email, **spec)
        for i in range(args.accounts):
            fake.add_account(f"fake-{i + 1}@fake.test", quota_limit=args.quota_limit)
        print(json.dumps({
            "root_url": fake.root_url, "base_url": fake.base_url, "token_url": fake.token_url,
            "userinfo_url": fake.userinfo_url, "auth_url": fake.auth_url, "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "accounts": [a.to_json() for a in fake.state.accounts.values()],
        }), flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fake_upstream", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--accounts", type=int, default=0, help="generated accounts to add")
    p.add_argument("--seed-file", help="JSON file with accounts and switches")
    p.add_argument("--seed", type=int, default=0, help="random seed for ids and signatures")
    p.add_argument("--quota-limit", type=int, default=None,
                   help="requests per model per 5 h window of generated accounts (default 1000; raise for benchmarks)")
    p.add_argument("--coalesce", action="store_true",
                   help="write each stream's events in one TCP write (cheaper fake for load tests)")
    p.add_argument("--client-id", default="fake-client-id.apps.googleusercontent.com")
    p.add_argument("--client-secret", default="fake-client-secret")
    return p.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse_args(sys.argv[1:]))
