"""``antigravityd accounts login | refresh-quota | warmup``: the account lifecycle from a terminal.

Each command opens the same lifecycle services as the daemon (``accounts/lifecycle.py``) on the configured store,
so its effects (new accounts, quotas, protected models, warmup history) are what the daemon sees next. Nothing
printed is a token.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import orjson
import trio

from antigravityd.accounts.errors import LifecycleError
from antigravityd.accounts.lifecycle import Lifecycle, open_standalone
from antigravityd.config import Config
from antigravityd.store import Repository

__all__ = ["default_redirect_uri", "lifecycle_command", "register_into"]

CALLBACK = "/api/oauth/callback"


def default_redirect_uri(config: Config) -> str:
    base = config.oauth.redirect_base or f"http://127.0.0.1:{config.server.port}"
    return base.rstrip("/") + CALLBACK


def register_into(asub: argparse._SubParsersAction, run: Callable[[Any], Callable[[argparse.Namespace], int]]) -> None:
    """Add the lifecycle subcommands to ``accounts``; ``run`` wraps a command (config, store, error handling)."""
    p = asub.add_parser(
        "login", help="add an account by signing in with Google",
        description="Print a Google sign-in URL; after signing in, paste the address of the page the browser lands "
                    "on (it may fail to load — its address holds the code), or just the code. The account is added "
                    "(or updated, matched by email), its project discovered and its quota fetched.")
    p.add_argument("--redirect-uri", metavar="URL",
                   help="redirect URI to register the sign-in with (default: <oauth.redirect_base or "
                        "http://127.0.0.1:<server.port>>/api/oauth/callback)")
    p.set_defaults(func=run(lifecycle_command(_login)))

    p = asub.add_parser("refresh-quota", help="fetch the quota and tier of one account, or all",
                        description="Fetch per-model quota and the tier from Google now, apply quota protection and "
                                    "store it. Disabled accounts are skipped by --all.")
    p.add_argument("account", nargs="?", metavar="ID|EMAIL")
    p.add_argument("--all", action="store_true", help="every enabled account")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run(lifecycle_command(_refresh_quota)))

    p = asub.add_parser("warmup", help="start the quota window of models at 100 %% (one tiny request each)",
                        description="Refresh the quota, then send one minimal request to each configured warmup "
                                    "model (warmup.models) that is at 100 %, so its reset window starts now.")
    p.add_argument("account", nargs="?", metavar="ID|EMAIL")
    p.add_argument("--all", action="store_true", help="every usable account")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run(lifecycle_command(_warmup)))


LifecycleCommand = Callable[[Lifecycle, Repository, argparse.Namespace, Config], Any]


def lifecycle_command(command: LifecycleCommand) -> Callable[[Repository, argparse.Namespace, Config], Any]:
    """Open the lifecycle services around ``command``; a LifecycleError becomes one line and an exit code."""

    async def wrapped(repo: Repository, args: argparse.Namespace, config: Config) -> int:
        try:
            async with open_standalone(config, repo) as life:
                return await command(life, repo, args, config)
        except LifecycleError as e:
            print(f"antigravityd: {e.message}", file=sys.stderr)
            return 2 if e.status == 400 else 1

    return wrapped


def _target(args: argparse.Namespace) -> None:
    if bool(args.all) == bool(args.account):
        raise LifecycleError.bad_input("name one account (ID or email) or use --all")


async def _account_id(repo: Repository, ref: str) -> str:
    from antigravityd.store import NotFound, ValidationError

    try:
        return (await repo.find_account(ref)).id
    except (NotFound, ValidationError):
        raise LifecycleError.not_found(ref[:64]) from None


def _dump(doc: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


async def _login(life: Lifecycle, repo: Repository, args: argparse.Namespace, config: Config) -> int:
    url, login = life.onboarding.start_login(args.redirect_uri or default_redirect_uri(config))
    print("Open this address in a browser and sign in with the Google account to add:\n")
    print(f"  {url}\n")
    print("Then paste the address of the page the browser lands on (or only its code) and press Enter:", flush=True)
    # A blocking read of the terminal, off the trio loop (the CLI's only non-database thread).
    pasted = await trio.to_thread.run_sync(sys.stdin.readline)
    if not pasted.strip():
        raise LifecycleError.bad_input("nothing was pasted")
    added = await life.onboarding.finish_pasted(pasted, state=login.state)
    print(f"{'added' if added.created else 'updated'} {added.email} ({added.id})")
    if added.quota_error:
        print(f"antigravityd: warning: first quota fetch failed: {added.quota_error}", file=sys.stderr)
    return 0


def _print_quota(view: dict[str, Any]) -> None:
    print(f"{view['email']} ({view['account_id']})  tier {view['tier'] or '-'}"
          + ("  FORBIDDEN (403)" if view["forbidden"] else ""))
    if view["models"]:
        width = max(len(m) for m in view["models"])
        for name, q in view["models"].items():
            left = "?" if q["percent"] is None else f"{q['percent']} %"
            reset = (q["reset_time"] or "-").replace("T", " ").replace("+00:00", " UTC")
            mark = "  protected" if name in view["protected_models"] else ""
            print(f"  {name:{width}}  {left:>6}  resets {reset}{mark}")


async def _refresh_quota(life: Lifecycle, repo: Repository, args: argparse.Namespace, config: Config) -> int:
    _target(args)
    if args.all:
        result = await life.quota.refresh_all()
        if args.json:
            _dump(result)
        else:
            print(f"refreshed {result['success']} of {result['total']} accounts ({result['failed']} failed)")
            for f in result["failures"]:
                print(f"  {f['email'] or f['account_id']}: {f['error']}")
        return 1 if result["failed"] else 0
    view = await life.quota.refresh_account(await _account_id(repo, args.account))
    if args.json:
        _dump(view)
    else:
        _print_quota(view)
    return 0


def _print_warmup(result: dict[str, Any]) -> None:
    print(f"{result['email'] or result['account_id']}: warmed {', '.join(result['warmed']) or 'nothing'}")
    for s in result["skipped"]:
        print(f"  skipped {s['model']}: {s['reason']}")
    for f in result["failed"]:
        print(f"  FAILED {f['model']}: {f['error']}")


async def _warmup(life: Lifecycle, repo: Repository, args: argparse.Namespace, config: Config) -> int:
    _target(args)
    if args.all:
        result = await life.warmer.warm_all()
        if args.json:
            _dump(result)
        else:
            for r in result["results"]:
                _print_warmup(r)
            print(f"{result['warmed']} warmed, {result['failed']} failed, {result['accounts']} accounts")
        return 1 if result["failed"] else 0
    result = await life.warmer.warm_account(await _account_id(repo, args.account))
    if args.json:
        _dump(result)
    else:
        _print_warmup(result)
    return 1 if result["failed"] else 0
