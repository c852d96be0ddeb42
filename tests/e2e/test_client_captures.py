"""Every request body captured from a real client (``/work/shared/reference/client-captures``) replayed through the
matching endpoint of the daemon (fake upstream behind it): each must get a well-formed answer.

The stubs the captures were made against accepted any model name (``claude-stub``, ``gpt-stub``); here they are
routed with operator model mappings, written to the store the way the admin API would. Headers are replayed as
the clients sent them, minus transport and credential headers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from antigravityd.store import open_repository
from tests.support.anthropic_stream_check import check_anthropic_message, check_anthropic_stream
from tests.support.daemon import start_daemon
from tests.support.gateway import Gateway, start_gateway, upstream_settings
from tests.support.responses_stream_check import check_response_object, check_responses_stream
from tests.support.sse_parse import parse_sse

CAPTURES = Path("/work/shared/reference/client-captures")
FILES = ("claude-code.json", "anthropic-python-sdk.json", "codex-cli.json", "openai-python-sdk.json")
MAPPINGS = {"claude-stub": "claude-sonnet-4-6", "gpt-stub": "gemini-3-flash"}
_DROP_HEADERS = {"host", "content-length", "authorization", "x-api-key", "x-goog-api-key", "accept-encoding",
                 "connection", "transfer-encoding"}


def _captured() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in FILES:
        data = json.loads((CAPTURES / name).read_text())
        runs = data["runs"].items() if "runs" in data else [("", data["requests"])]
        for run, requests in runs:
            for i, request in enumerate(requests):
                out.append((f"{name}:{run}:{i}:{request['method']} {request['path']}", request))
    return out


CAPTURED = _captured()


async def _write_mappings(data_dir: Path) -> None:
    repo = await open_repository("", data_dir=data_dir)
    try:
        for key, target in MAPPINGS.items():
            await repo.set_mapping(key, target)
    finally:
        await repo.aclose()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("captures"))
    try:
        gateway.daemon.stop()
        trio.run(_write_mappings, gateway.daemon.data_dir)
        gateway.daemon = start_daemon(gateway.workdir / "daemon", settings=upstream_settings(gateway.fake.info))
        yield gateway
    finally:
        gateway.close()


def _headers(gw: Gateway, captured: dict[str, str]) -> dict[str, str]:
    headers = {k: v for k, v in captured.items() if k.lower() not in _DROP_HEADERS and not v.startswith("<redacted")}
    headers["authorization"] = f"Bearer {gw.api_key}"
    return headers


@pytest.mark.parametrize("request_", [r for _, r in CAPTURED], ids=[i for i, _ in CAPTURED])
def test_replay(gw: Gateway, request_: dict[str, Any]) -> None:
    method, path, query = request_["method"], request_["path"], request_.get("query") or ""
    url = gw.url + path + (f"?{query}" if query else "")
    body = copy.deepcopy(request_.get("body"))
    with httpx.Client(timeout=120) as http:
        response = http.request(method, url, headers=_headers(gw, request_.get("headers") or {}),
                                content=None if body is None else json.dumps(body).encode())
    if method == "HEAD":
        assert response.status_code < 500  # Claude Code's connectivity pre-flight: anything but a server error
        return
    assert response.status_code == 200, response.text
    stream = bool(body.get("stream"))
    if path.startswith("/v1/messages"):
        message = check_anthropic_stream(response.content) if stream else check_anthropic_message(response.json())
        assert message["content"], "an answer with content"
    elif path == "/v1/responses":
        final = check_responses_stream(response.content) if stream else check_response_object(response.json())
        assert any(item["type"] == "message" for item in final["output"])
    elif path == "/v1/chat/completions":
        if stream:
            events = parse_sse(response.content)
            assert events[-1] == (None, "[DONE]") and all("choices" in e for _, e in events[:-1])
        else:
            assert response.json()["choices"][0]["message"]["content"]
    else:
        raise AssertionError(f"no check for {path}")
