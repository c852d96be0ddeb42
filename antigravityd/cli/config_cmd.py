"""``antigravityd config init|show|get|set``: read and write the TOML config file.

``set`` validates the value exactly as the daemon would at start, then rewrites the file with tomli-w (comments
in a hand-edited file are not preserved — ``show --defaults`` prints the documentation of every key instead).
``show`` masks secrets; it never prints an API key, client secret or database password.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import tomli_w

from antigravityd.cli import config_path, load_cli_config
from antigravityd.config import SECTIONS, ConfigError
from antigravityd.config_loading import SETTINGS, Setting, coerce, get_value, read_toml

MASK = "********"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show or edit the configuration file",
                       description="Show or edit the TOML configuration. Keys are dotted: server.port, "
                                   "security.auth_mode, database.url … (`config show --defaults` lists them all).")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    init = csub.add_parser("init", help="write a config file with the defaults",
                           description="Write a config file containing every setting at its default value.")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=_init)

    show = csub.add_parser("show", help="print the effective configuration (secrets masked)",
                           description="Print the effective configuration: file values, environment overrides "
                                       "and defaults merged. Secrets are masked.")
    show.add_argument("--defaults", action="store_true", help="print every key with its default and documentation")
    show.set_defaults(func=_show)

    get = csub.add_parser("get", help="print one setting's effective value",
                          description="Print one setting's effective value (secrets masked).")
    get.add_argument("key", help="dotted key, e.g. server.port")
    get.set_defaults(func=_get)

    set_ = csub.add_parser("set", help="validate and store one setting in the config file",
                           description="Validate a value as the daemon would and store it in the config file. "
                                       "Lists are comma-separated.")
    set_.add_argument("key", help="dotted key, e.g. server.port")
    set_.add_argument("value", help="the new value")
    set_.set_defaults(func=_set)


def _display(s: Setting, value: Any) -> Any:
    if s.secret and value:
        return MASK if "://" not in str(value) else _mask_url(str(value))
    return value


def _mask_url(url: str) -> str:
    """Keep host and database of a DSN visible, hide the password."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url  # no password in it
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{host}"


def _init(args: argparse.Namespace) -> int:
    path = config_path(args)
    if path.exists() and not args.force:
        print(f"{path} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    doc: dict[str, Any] = {}
    for s in SETTINGS.values():
        head, _, tail = s.key.partition(".")
        if tail:
            doc.setdefault(head, {})[tail] = s.default
        else:
            doc[head] = s.default
    _write(path, doc)
    print(f"wrote {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.defaults:
        for s in SETTINGS.values():
            env = f"  (env {s.env})" if s.env else ""
            print(f"{s.key} = {_toml_value(_display(s, s.default))}{env}\n    {s.doc}")
        return 0
    config = load_cli_config(args)
    doc: dict[str, Any] = {}
    for s in SETTINGS.values():
        head, _, tail = s.key.partition(".")
        value = _display(s, get_value(config, s.key))
        if tail:
            doc.setdefault(head, {})[tail] = value
        else:
            doc[head] = value
    sys.stdout.write(tomli_w.dumps(doc))
    return 0


def _get(args: argparse.Namespace) -> int:
    if args.key not in SETTINGS:
        raise ConfigError(args.key, None, "a known setting (see `antigravityd config show --defaults`)")
    config = load_cli_config(args)
    print(_toml_value(_display(SETTINGS[args.key], get_value(config, args.key))))
    return 0


def _set(args: argparse.Namespace) -> int:
    if args.key not in SETTINGS:
        raise ConfigError(args.key, args.value, "a known setting (see `antigravityd config show --defaults`)")
    s = SETTINGS[args.key]
    value = coerce(s, args.value, from_text=True)
    path = config_path(args)
    doc = read_toml(path)
    head, _, tail = args.key.partition(".")
    if tail:
        section = doc.setdefault(head, {})
        if not isinstance(section, dict) or head not in SECTIONS:
            raise ConfigError(head, section, "a table of settings")
        section[tail] = value
    else:
        doc[head] = value
    _write(path, doc)
    return 0


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": value})[4:].strip()


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # The file may hold secrets (API key, client secret): readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        tomli_w.dump(doc, f)
    tmp.replace(path)
