"""Helpers for tests that talk to the fake over HTTP with httpx (no antigravityd code involved)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .app import FakeUpstream
from .state import Account

UA = "antigravity/1.115.0 linux/amd64"


def envelope(model: str, *texts: str, project: str = "fake-project", **request: Any) -> dict:
    """A minimal generate envelope; each text becomes one user content (pass ``contents=`` to override)."""
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": t}]} for t in texts]}
    body.update(request)
    return {"project": project, "model": model, "userAgent": "antigravity", "requestType": "agent",
            "requestId": "agent-test", "request": body}


def user(*parts: Any) -> dict:
    return {"role": "user", "parts": [p if isinstance(p, dict) else {"text": p} for p in parts]}


def model_turn(*parts: Any) -> dict:
    return {"role": "model", "parts": [p if isinstance(p, dict) else {"text": p} for p in parts]}


def headers(account: Account | str) -> dict[str, str]:
    token = account if isinstance(account, str) else account.access_token
    return {"authorization": f"Bearer {token}", "user-agent": UA}


async def rpc(http: httpx.AsyncClient, fake: FakeUpstream, account: Account | str, method: str, body: Any,
              *, query: str = "") -> httpx.Response:
    return await http.post(f"{fake.base_url}:{method}{query}", json=body, headers=headers(account))


def sse_events(text: str) -> list[dict]:
    """Strictly parse the fake's framing: every event is exactly ``data: <json>\\n\\n``."""
    assert text.endswith("\n\n") or text == "", repr(text[-20:])
    out = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block[:40]
        assert "\n" not in block
        out.append(json.loads(block[len("data: "):]))
    return out


async def stream(http: httpx.AsyncClient, fake: FakeUpstream, account: Account | str, body: Any) -> list[dict]:
    r = await rpc(http, fake, account, "streamGenerateContent", body, query="?alt=sse")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/event-stream"
    return sse_events(r.text)


def parts(events: list[dict]) -> list[dict]:
    return [p for e in events for c in e["response"]["candidates"] for p in c["content"].get("parts", [])]


def text_of(events: list[dict]) -> str:
    return "".join(p.get("text", "") for p in parts(events) if not p.get("thought"))


def error_message(r: httpx.Response) -> str:
    return r.json()["error"]["message"]
