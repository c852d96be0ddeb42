"""Shared pieces of the Anthropic end-to-end tests: SDK clients, validated streams, fake-upstream inspection."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx

from tests.support.anthropic_stream_check import check_anthropic_message, check_anthropic_stream
from tests.support.gateway import Gateway


def client(gw: Gateway, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.api_key, max_retries=0, timeout=60, **kw)


def create(gw: Gateway, **kw: Any) -> dict[str, Any]:
    """A non-streaming call through the SDK, the answer checked for shape and returned as a dict."""
    message = client(gw).messages.create(**kw)
    return check_anthropic_message(message.model_dump(exclude_none=True))


def stream(gw: Gateway, **kw: Any) -> dict[str, Any]:
    """A streaming call through the SDK; every event goes through the validator; returns the rebuilt message."""
    events = [(e.type, e.model_dump(exclude_none=True)) for e in client(gw).messages.create(stream=True, **kw)]
    return check_anthropic_stream(events)


def raw_stream(gw: Gateway, body: dict[str, Any], *, path: str = "/v1/messages",
               allow_error: bool = False) -> tuple[httpx.Response, dict[str, Any]]:
    """The raw SSE bytes over plain HTTP (event names and framing checked too)."""
    with httpx.Client(timeout=60) as http:
        r = http.post(gw.url + path, json={**body, "stream": True}, headers={"x-api-key": gw.api_key,
                                                                              "anthropic-version": "2023-06-01"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return r, check_anthropic_stream(r.content, allow_error=allow_error)


def generate_requests(gw: Gateway) -> list[dict[str, Any]]:
    return [r for r in gw.fake.requests() if r["rpc"] in ("streamGenerateContent", "generateContent")]


def last_upstream(gw: Gateway) -> dict[str, Any]:
    return generate_requests(gw)[-1]["body"]


def blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["content"] if b["type"] == kind]


def text(message: dict[str, Any]) -> str:
    return "".join(b["text"] for b in blocks(message, "text"))


def as_history(message: dict[str, Any]) -> dict[str, Any]:
    """An answer as the assistant turn a client sends back."""
    return {"role": "assistant", "content": message["content"]}
