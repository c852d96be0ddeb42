"""The daemon's services and HTTP server in the test's own trio loop, for tests that must reach into runtime state
that only exists in memory (lockouts, circuits, sticky bindings): the test drives the real pool the way the
pipeline would, then checks what the admin API shows and does over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from antigravityd.app import server_error_body
from antigravityd.config_loading import load_config
from antigravityd.daemon import bind_socket, build_app
from antigravityd.http.server import HttpServer, ServerLimits
from antigravityd.services import Services, open_services
from tests.support.daemon import TEST_API_KEY


@dataclass
class InProcess:
    services: Services
    url: str
    http: httpx.AsyncClient


@asynccontextmanager
async def in_process_daemon(data_dir: Path, settings: Mapping[str, Any] | None = None) -> AsyncIterator[InProcess]:
    values = {"data_dir": str(data_dir), "security.api_key": TEST_API_KEY,
              "upstream.base_urls": ["http://127.0.0.1:9/v1internal"],  # discard port: nothing reaches Google
              "oauth.token_url": "http://127.0.0.1:9/token", "oauth.userinfo_url": "http://127.0.0.1:9/userinfo",
              "oauth.client_secret": "test-client-secret", **(settings or {})}
    config = load_config(Path("/nonexistent/antigravityd.toml"), environ={}, overrides=values)
    sock = bind_socket("127.0.0.1", 0, 128)
    port = sock.getsockname()[1]
    async with open_services(config) as services:
        app = build_app(config, services)
        server = HttpServer(app, ServerLimits(), error_body=server_error_body)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, [trio.SocketListener(trio.socket.from_stdlib_socket(sock))])
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, timeout=10,
                                         headers={"authorization": f"Bearer {TEST_API_KEY}"}) as http:
                yield InProcess(services, url, http)
            server.drain(trio.current_time())
            nursery.cancel_scope.cancel()
