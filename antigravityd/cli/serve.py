"""``antigravityd serve``: run the daemon."""

from __future__ import annotations

import argparse

from antigravityd.cli import load_cli_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the daemon",
        description="Run the gateway. Takes its listening socket from systemd when socket-activated, else binds "
                    "server.bind:server.port (default 127.0.0.1:8045). Stops gracefully on SIGTERM/SIGINT.",
    )
    p.add_argument("--bind", help="override server.bind (e.g. 127.0.0.1, ::1, 0.0.0.0)")
    p.add_argument("--port", type=int, help="override server.port")
    p.add_argument("--data-dir", help="override data_dir (state directory: SQLite database, keys)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import os

    for flag, env in (("bind", "ANTIGRAVITY_BIND"), ("port", "ANTIGRAVITY_PORT"),
                      ("data_dir", "ANTIGRAVITY_DATA_DIR"), ("log_level", "ANTIGRAVITY_LOG_LEVEL")):
        value = getattr(args, flag)
        if value is not None:
            os.environ[env] = str(value)
    config = load_cli_config(args)

    from antigravityd.daemon import run
    from antigravityd.logs import configure_logging

    configure_logging(config.log.level, config.log.format)
    return run(config)
