"""Malformed requests get a 400 in the caller's own error format, for every dialect, and reach no account."""

from __future__ import annotations

import httpx
import pytest

from tests.support.gateway import Gateway

OPENAI_CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
ANTHROPIC = "/v1/messages"
GEMINI = "/v1beta/models/gemini-3-flash:generateContent"


def post(gateway: Gateway, path: str, content: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {gateway.api_key}", "content-type": "application/json",
               "anthropic-version": "2023-06-01"}
    return httpx.post(gateway.url + path, content=content, headers=headers, timeout=30)


def error_message(path: str, response: httpx.Response) -> str:
    body = response.json()
    if path == ANTHROPIC:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    elif path == GEMINI:
        assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    return body["error"]["message"]


@pytest.mark.parametrize("path", [OPENAI_CHAT, RESPONSES, ANTHROPIC, GEMINI])
@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]"])
def test_unparsable_or_non_object_bodies(gateway: Gateway, path: str, content: bytes) -> None:
    before = len(gateway.fake.requests("streamGenerateContent"))
    r = post(gateway, path, content)
    assert r.status_code == 400, r.text
    assert "JSON" in error_message(path, r)
    assert len(gateway.fake.requests("streamGenerateContent")) == before


@pytest.mark.parametrize("path", [OPENAI_CHAT, RESPONSES, ANTHROPIC])
def test_stream_must_be_a_boolean(gateway: Gateway, path: str) -> None:
    body = b'{"model": "gemini-3-flash", "max_tokens": 10, "stream": "yes", "input": "hi", ' \
           b'"messages": [{"role": "user", "content": "hi"}]}'
    r = post(gateway, path, body)
    assert r.status_code == 400, r.text
    assert error_message(path, r) == "stream must be a boolean"
    if path != ANTHROPIC:
        assert r.json()["error"]["param"] == "stream"
