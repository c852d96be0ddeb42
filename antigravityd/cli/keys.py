"""``antigravityd keys rotate|generate``: the key that encrypts OAuth tokens at rest."""

from __future__ import annotations

import argparse
import sys

import trio

from antigravityd.cli import load_cli_config
from antigravityd.store import StoreError, TokenCipher, open_from_config
from antigravityd.store.crypto import generate_key
from antigravityd.store.rotation import rotate_keys


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="token encryption key: rotate, generate",
                          description="Manage the key that encrypts OAuth tokens in the database "
                                      "(security.token_key_file; default <data_dir>/token.key).")
    ksub = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    r = ksub.add_parser(
        "rotate", help="re-encrypt every stored token with a new key",
        description="With the default key file: generate a new key, re-encrypt every token in one transaction, "
                    "then drop the old key. With a configured (read-only) key file: put the new key (see "
                    "`keys generate`) on its first line and the old key on the second, run this, then remove the "
                    "old line. Running daemons pick up the new key file by themselves. Safe to re-run after an "
                    "interruption.")
    r.set_defaults(func=_rotate)
    g = ksub.add_parser("generate", help="print a new key (for a key file you manage yourself)",
                        description="Print a freshly generated key on stdout. Nothing is stored.")
    g.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    print(generate_key().decode("ascii"))
    return 0


def _rotate(args: argparse.Namespace) -> int:
    config = load_cli_config(args)

    async def main() -> int:
        repo = await open_from_config(config)
        try:
            cipher = await trio.to_thread.run_sync(TokenCipher.load, config.security.token_key_file,
                                                   config.data_path)
            result = await rotate_keys(repo, cipher)
        finally:
            await repo.aclose()
        print(f"re-encrypted the tokens of {result.tokens} account(s) with the new key in {cipher.path}")
        if result.old_keys_left:
            print(f"{result.old_keys_left} old key(s) remain in {cipher.path}: remove them now")
        return 0

    try:
        return trio.run(main)
    except StoreError as e:
        print(f"antigravityd: {e}", file=sys.stderr)
        return 1
