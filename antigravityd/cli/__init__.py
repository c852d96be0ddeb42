"""Command line: ``antigravityd <command>``. Each command group lives in its own module and registers itself.

A command module exposes ``register(subparsers)``; each parser it adds sets ``func(args) -> int`` with
``set_defaults``. ``args.config`` is the ``--config`` path (or None for the default lookup); commands load the
configuration themselves with :func:`load_cli_config`, so ``--help`` never needs a valid config file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from antigravityd import __version__
from antigravityd.config import Config, ConfigError
from antigravityd.config_loading import default_config_path, load_config

COMMAND_MODULES = (
    "antigravityd.cli.serve",
    "antigravityd.cli.config_cmd",
    "antigravityd.cli.db",
    "antigravityd.cli.accounts",
    "antigravityd.cli.keys",
)


def load_cli_config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if args.config else None)


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="antigravityd",
        description="Multi-account gateway serving OpenAI, Anthropic and Gemini APIs from Google's Cloud Code backend.",
    )
    parser.add_argument("--config", metavar="PATH",
                        help="TOML config file (default: $ANTIGRAVITY_CONFIG, /etc/antigravityd/config.toml, "
                             "or ~/.config/antigravityd/config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version and exit",
                             description="Print the version (and git revision when known).")
    version.set_defaults(func=_version)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue  # a command group not built yet
        module.register(sub)
    return parser


def _version(args: argparse.Namespace) -> int:
    from antigravityd.version import git_revision

    rev = git_revision()
    print(f"antigravityd {__version__}" + (f" ({rev})" if rev else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"antigravityd: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
