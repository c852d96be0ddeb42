"""``antigravityd accounts …``: the account pool, on the same store the daemon uses (never on side files).

Tokens are never printed: ``list --json`` carries no secret, proxy URLs lose their credentials.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio

from antigravityd.accounts.errors import LifecycleError
from antigravityd.accounts.importer import EmailLookup, ImportReport, import_path
from antigravityd.accounts.lifecycle import Lifecycle, open_standalone
from antigravityd.cli import load_cli_config
from antigravityd.cli.accounts_lifecycle import lifecycle_command
from antigravityd.config import Config
from antigravityd.store import (
    Account,
    AccountDraft,
    NotFound,
    Repository,
    StoreError,
    ValidationError,
    open_from_config,
)
from antigravityd.store.validate import redact_url

PROGRESS_FROM = 20  # show progress on stderr for imports of more entries than this


@asynccontextmanager
async def email_lookup(config: Config, repo: Repository) -> AsyncIterator[EmailLookup]:
    """Refresh token → account email (and the refresh token to keep, should Google rotate it) via the OAuth
    refresh and userinfo calls of the onboarding service. Needs the OAuth client secret only when used."""
    async with open_standalone(config, repo) as life:
        yield life.onboarding.lookup_email


def register(sub: argparse._SubParsersAction) -> None:
    acc = sub.add_parser("accounts", help="list, add, import, remove, enable/disable accounts; show their events",
                         description="Manage the Google accounts in the configured store.")
    asub = acc.add_subparsers(dest="accounts_command", metavar="COMMAND", required=True)

    p = asub.add_parser("list", help="list accounts", description="List accounts with their state. No secrets.")
    p.add_argument("--json", action="store_true", help="machine-readable output (no tokens, proxy passwords hidden)")
    p.set_defaults(func=_run(_list))

    p = asub.add_parser("add", help="add (or update) an account from a refresh token",
                        description="Add an account, or update the refresh token of the account with that email.")
    p.add_argument("--refresh-token", required=True, metavar="TOKEN",
                   help="the OAuth refresh token (1//…); '-' reads it from stdin, keeping it out of shell history")
    p.add_argument("--email", help="the account's Google email; without it Google is asked (the token is refreshed "
                                   "and userinfo read; the project and quota are fetched too)")
    p.add_argument("--name", help="display name")
    p.set_defaults(func=_run(_add))

    p = asub.add_parser(
        "import", help="import accounts from the upstream tool's data dir, an export or pasted tokens",
        description="Import from ~/.antigravity_tools (accounts.json + accounts/*.json), a JSON export "
                    "([{email, refresh_token}] or a list of tokens) or any text holding 1//… tokens. Idempotent: "
                    "accounts are matched by email. Prints what was created, updated, unchanged, skipped and why.")
    p.add_argument("path", type=Path, help="directory or file to import")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_run(_import))

    p = asub.add_parser("remove", help="delete an account (its event history is kept)",
                        description="Delete an account and its tokens and quota. Its events stay, under its email.")
    p.add_argument("account", metavar="ID|EMAIL")
    p.set_defaults(func=_run(_remove))

    for name, verb in (("enable", "return an account to service"), ("disable", "take an account out of service")):
        p = asub.add_parser(name, help=verb, description=f"{verb.capitalize()}. With --proxy only the proxy pool "
                                                         "flag changes (the account keeps refreshing its token).")
        p.add_argument("account", metavar="ID|EMAIL")
        p.add_argument("--proxy", action="store_true", help="change only whether the proxy pool may use it")
        if name == "disable":
            p.add_argument("--reason", default="disabled by operator", help="why (shown in list and events)")
        p.set_defaults(func=_run(_enable if name == "enable" else _disable))

    p = asub.add_parser("events", help="show an account's event history",
                        description="Show the audit events of an account (newest first). Works for deleted "
                                    "accounts too, by email.")
    p.add_argument("account", metavar="ID|EMAIL")
    p.add_argument("--limit", type=int, default=50, help="how many events (default 50, at most 1000)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run(_events))

    from antigravityd.cli import accounts_lifecycle

    accounts_lifecycle.register_into(asub, _run)


Command = Callable[[Repository, argparse.Namespace, Config], Awaitable[int]]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    """Load config, open the store, run the command, close the store; errors become one line and an exit code."""

    def entry(args: argparse.Namespace) -> int:
        config = load_cli_config(args)

        async def main() -> int:
            repo = await open_from_config(config)
            try:
                return await command(repo, args, config)
            finally:
                await repo.aclose()

        try:
            return trio.run(main)
        except ValidationError as e:
            print(f"antigravityd: {e}", file=sys.stderr)
            return 2
        except StoreError as e:  # NotFound, Conflict, StoreUnavailable, KeyFileError ...
            print(f"antigravityd: {e}", file=sys.stderr)
            return 1

    return entry


def _public(a: Account) -> dict[str, Any]:
    return {
        "id": a.id, "email": a.email, "name": a.name, "tier": a.tier, "disabled": a.disabled,
        "disabled_reason": a.disabled_reason, "disabled_at": _iso(a.disabled_at), "proxy_disabled": a.proxy_disabled,
        "proxy_disabled_reason": a.proxy_disabled_reason, "proxy_disabled_at": _iso(a.proxy_disabled_at),
        "protected_models": sorted(a.protected_models), "proxy_url": redact_url(a.proxy_url),
        "created_at": _iso(a.created_at), "updated_at": _iso(a.updated_at), "last_used_at": _iso(a.last_used_at),
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _state(a: Account) -> str:
    if a.disabled:
        return "disabled"
    if a.proxy_disabled:
        return "proxy-off"
    return "active"


async def _list(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    accounts = await repo.list_accounts()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps([_public(a) for a in accounts], option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    if not accounts:
        print("no accounts (add one with `antigravityd accounts add` or `accounts import`)")
        return 0
    width = max(len(a.email) for a in accounts)
    print(f"{'ID':36}  {'EMAIL':{width}}  {'STATE':9}  {'TIER':16}  {'LAST USED':16}  REASON")
    for a in accounts:
        used = a.last_used_at.strftime("%Y-%m-%d %H:%M") if a.last_used_at else "-"
        reason = a.disabled_reason or a.proxy_disabled_reason or ""
        print(f"{a.id:36}  {a.email:{width}}  {_state(a):9}  {a.tier or '-':16}  {used:16}  {reason[:60]}")
    return 0


async def _add(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    token = args.refresh_token
    if token == "-":
        token = (await trio.to_thread.run_sync(sys.stdin.readline)).strip()
    if not args.email:
        return await lifecycle_command(_add_via_google)(repo, argparse.Namespace(token=token, name=args.name), config)
    email = args.email
    result = await repo.upsert_account(AccountDraft(email=email, refresh_token=token, name=args.name))
    verb = "added" if result.created else ("updated" if result.changed else "unchanged")
    print(f"{verb} {result.account.email} ({result.account.id})")
    return 0


async def _add_via_google(life: Lifecycle, repo: Repository, args: argparse.Namespace, config: Config) -> int:
    try:
        added = await life.onboarding.add_refresh_token(args.token, name=args.name)
    except LifecycleError as e:
        if e.code != "oauth_not_configured":
            raise
        print(f"antigravityd: --email is required: the email cannot be looked up ({e.message})", file=sys.stderr)
        return 2
    print(f"{'added' if added.created else 'updated'} {added.email} ({added.id})")
    if added.quota_error:
        print(f"antigravityd: warning: first quota fetch failed: {added.quota_error}", file=sys.stderr)
    return 0


async def _import(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    def progress(done: int, total: int) -> None:
        if total > PROGRESS_FROM and (done == total or done % 10 == 0):
            print(f"\rimporting {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    async with email_lookup(config, repo) as lookup:
        report = await import_path(repo, args.path, lookup_email=lookup, progress=progress,
                                   fallback_project=config.upstream.default_project)
    _print_report(report, as_json=args.json)
    return 0 if report.ok else 1


def _print_report(report: ImportReport, *, as_json: bool) -> None:
    if as_json:
        items = [{"source": i.source, "email": i.email, "outcome": i.outcome, "reason": i.reason}
                 for i in report.items]
        sys.stdout.buffer.write(orjson.dumps({"items": items, "counts": report.counts()},
                                             option=orjson.OPT_INDENT_2) + b"\n")
        return
    for i in report.items:
        line = f"{i.outcome:9} {i.email or '-':40} {i.source}"
        print(line + (f"  ({i.reason})" if i.reason else ""))
    counts = report.counts()
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to import")


async def _remove(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    account = await repo.find_account(args.account)
    await repo.delete_account(account.id)
    print(f"removed {account.email} ({account.id})")
    return 0


async def _enable(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    account = await repo.find_account(args.account)
    if args.proxy:
        account = await repo.set_proxy_disabled(account.id, False)
    else:
        account = await repo.enable(account.id)
    print(f"{account.email}: {_state(account)}")
    return 0


async def _disable(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    account = await repo.find_account(args.account)
    if args.proxy:
        account = await repo.set_proxy_disabled(account.id, True, args.reason)
    else:
        account = await repo.set_disabled(account.id, args.reason)
    print(f"{account.email}: {_state(account)} ({args.reason})")
    return 0


async def _events(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    try:
        account = await repo.find_account(args.account)
        events = await repo.events(account_id=account.id, limit=args.limit)
    except NotFound:
        if "@" not in args.account:
            raise
        events = await repo.events(email=args.account, limit=args.limit)  # a deleted account's history
        if not events:
            raise
    if args.json:
        rows = [{"id": e.id, "account_id": e.account_id, "email": e.email, "kind": e.kind, "details": e.details,
                 "created_at": e.created_at.isoformat()} for e in events]
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    for e in events:
        details = " ".join(f"{k}={v}" for k, v in e.details.items() if v is not None)
        print(f"{e.created_at.strftime('%Y-%m-%d %H:%M:%S')}  {e.kind:22} {details}")
    if not events:
        print("no events")
    return 0
