"""The Cloud Code ``v1internal`` client: one shared ``httpx.AsyncClient`` over HTTP/1.1.

Why these choices (DESIGN.md §3, stack-notes §3):

* **HTTP/1.1 only.** Cancelling an HTTP/1.1 stream closes its TCP connection within about a millisecond, so the
  upstream stops generating; httpx's HTTP/2 never sends RST_STREAM and leaks streams.
* **Explicit limits and timeouts.** httpx's ``read`` timeout is per read (the gap between chunks), so a total
  deadline is a ``trio.fail_after`` around the whole call, stream included. A stream holds its pool slot until it is
  closed: size ``max_connections`` for the concurrent streams you expect.
* **Base URLs in configured order** (§1.2, §13 #1): 404, 408, 429, 5xx and connection failures move on to the next
  base; other statuses are answers. A base that failed at the transport level or with a plain 5xx is tried last for
  ``base_cooldown`` seconds. A broken keep-alive connection is retried once on the same base.

Methods raise :class:`~antigravityd.upstream.errors.UpstreamError` carrying a classified
:class:`~antigravityd.outcomes.Failure`; nothing here logs or keeps prompt or response content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import trio

from antigravityd.outcomes import Failure, FailureKind

from .bootstrap import (
    CodeAssistInfo,
    ModelCatalog,
    parse_available_models,
    parse_load_code_assist,
    project_from_operation,
)
from .errors import UpstreamError, classify_response, classify_transport
from .stream import UpstreamStream
from .transport import BaseHealth, ClientSettings, make_http_client

__all__ = ["ClientSettings", "CloudCodeClient", "UpstreamStream", "make_http_client"]

log = logging.getLogger(__name__)

CLIENT_METADATA = {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
_PROTECTED_HEADERS = frozenset({"authorization", "content-type", "content-length", "host", "transfer-encoding"})
_OPERATION_NAME = re.compile(r"operations/[A-Za-z0-9._\-]{1,200}")


def _moves_on(status: int) -> bool:
    return status in (404, 408, 429) or status >= 500


def _pick(failures: list[Failure]) -> Failure:
    """The most informative failure of a fallback chain: an answer about the account beats a network error,
    and a 404 from one host says less than a 429 from another."""
    for wanted in (
        lambda f: f.kind not in (FailureKind.TRANSPORT, FailureKind.TIMEOUT, FailureKind.NOT_FOUND),
        lambda f: f.kind not in (FailureKind.TRANSPORT, FailureKind.TIMEOUT),
    ):
        for failure in reversed(failures):
            if wanted(failure):
                return failure
    return failures[-1]


def _deadline_failure(seconds: float, model: str | None) -> Failure:
    return Failure(FailureKind.TIMEOUT, message=f"Upstream call exceeded its total deadline of {seconds:g}s",
                   model=model)


class CloudCodeClient:
    def __init__(self, settings: ClientSettings, http: httpx.AsyncClient | None = None, *,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.settings = settings
        self.http = http if http is not None else make_http_client(settings)
        self._owns_http = http is None
        self._health = BaseHealth(settings.base_urls, settings.base_cooldown, clock)
        self._urls: dict[str, httpx.URL] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> CloudCodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def base_order(self) -> list[str]:
        return self._health.order()

    # ------------------------------------------------------------------------------------------ plumbing

    def _headers(self, access_token: str, accept: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {access_token}",
            "content-type": "application/json",
            "accept": accept,
            "accept-encoding": "gzip",  # what Go's client (the real Antigravity's) sends; httpx decodes it
            "user-agent": self.settings.user_agent,
            "x-client-name": "antigravity",
            "x-client-version": self.settings.client_version,
        }
        for name, value in (extra or {}).items():
            if name.lower() in _PROTECTED_HEADERS:
                raise ValueError(f"header {name} is set by the client itself")
            headers[name.lower()] = value
        return headers

    async def _send(self, method: str, url: str, content: bytes | None, headers: dict[str, str]) -> httpx.Response:
        """One HTTP exchange, the body left open. Straight to our transport when the client has one (see
        :class:`UpstreamHTTP`); through httpx's client otherwise (an environment proxy, or a caller's own client)."""
        direct = getattr(self.http, "direct", None)
        if direct is None:
            request = self.http.build_request(method, url, content=content, headers=headers)
            return await self.http.send(request, stream=True)
        parsed = self._urls.get(url)
        if parsed is None:  # parsing a URL is half the cost of an httpx.Request; bases × methods are few
            parsed = httpx.URL(url)
            if len(self._urls) < 256:
                self._urls[url] = parsed
        request = httpx.Request(method, parsed, content=content, headers=headers,
                                extensions=self.http.direct_extensions)  # type: ignore[attr-defined]
        response = await direct.handle_async_request(request)
        response.request = request
        return response

    async def _open(self, target: str, access_token: str, content: bytes | None, *, http_method: str = "POST",
                    accept: str = "application/json", extra_headers: Mapping[str, str] | None = None,
                    model: str | None = None) -> tuple[httpx.Response, str]:
        """Send to each base in turn until one answers 200 (returned open) or with a final answer (raised).

        ``target`` is ``":method"`` (``{base}:method``) or ``"/path"`` (``{base}/path``).
        """
        headers = self._headers(access_token, accept, extra_headers)
        failures: list[Failure] = []
        for base in self._health.order():
            url = base + target
            retried = False
            while True:
                try:
                    response = await self._send(http_method, url, content, headers)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    failures.append(classify_transport(exc, model=model))
                    self._health.failed(base)
                    log.debug("upstream %s unreachable (%s), trying the next base", _host(base), type(exc).__name__)
                    break
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    if not retried:  # most likely a keep-alive connection the server had closed
                        retried = True
                        continue
                    failures.append(classify_transport(exc, model=model))
                    self._health.failed(base)
                    break
                except httpx.TransportError as exc:  # read/write/pool timeouts: the call may be running upstream
                    raise UpstreamError(classify_transport(exc, model=model), base_url=base) from exc
                if response.status_code == 200:
                    self._health.succeeded(base)
                    return response, base
                try:
                    body = await _read_capped(response, self.settings.max_error_body, truncate=True)
                except httpx.TransportError:
                    body = b""
                finally:
                    await response.aclose()
                failure = classify_response(response.status_code, body, response.headers, model=model)
                if not _moves_on(response.status_code):
                    raise UpstreamError(failure, base_url=base)
                if failure.kind is FailureKind.SERVER_ERROR:
                    self._health.failed(base)
                failures.append(failure)
                log.debug("upstream %s answered %d (%s), trying the next base", _host(base), response.status_code,
                          failure.kind.value)
                break
        raise UpstreamError(_pick(failures))

    async def _json(self, target: str, access_token: str, body: Any, *, http_method: str = "POST",
                    model: str | None = None, extra_headers: Mapping[str, str] | None = None) -> Any:
        content = None if body is None else orjson.dumps(body)
        response, base = await self._open(target, access_token, content, http_method=http_method, model=model,
                                          extra_headers=extra_headers)
        try:
            data = await _read_capped(response, self.settings.max_response_body, truncate=False)
        except httpx.TransportError as exc:
            raise UpstreamError(classify_transport(exc, model=model), base_url=base) from exc
        finally:
            await response.aclose()
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(Failure(FailureKind.SERVER_ERROR, status=200, model=model,
                                        message="Upstream answered with malformed JSON"), base_url=base) from None

    @asynccontextmanager
    async def _deadline(self, model: str | None) -> AsyncIterator[None]:
        try:
            with trio.fail_after(self.settings.total_timeout):
                yield
        except trio.TooSlowError:
            raise UpstreamError(_deadline_failure(self.settings.total_timeout, model)) from None

    # ------------------------------------------------------------------------------------------ generation

    @asynccontextmanager
    async def stream_generate(self, access_token: str, envelope: Mapping[str, Any] | bytes, *,
                              headers: Mapping[str, str] | None = None) -> AsyncIterator[UpstreamStream]:
        """``streamGenerateContent?alt=sse``. Raises :class:`UpstreamError` before yielding unless the answer is
        200; then yields an :class:`UpstreamStream` of unwrapped ``response`` objects. Leaving the block (or
        cancelling the caller's scope) closes the upstream connection at once. The total deadline covers the
        whole block."""
        model = _model_of(envelope)
        content = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope)
        async with self._deadline(model):
            response, base = await self._open(":streamGenerateContent?alt=sse", access_token, content,
                                              accept="text/event-stream", extra_headers=headers, model=model)
            try:
                yield UpstreamStream(response, base, model=model, max_line=self.settings.max_sse_line)
            finally:
                await response.aclose()

    async def generate(self, access_token: str, envelope: Mapping[str, Any], *,
                       headers: Mapping[str, str] | None = None) -> dict:
        """``generateContent``: the unwrapped ``GenerateContentResponse``."""
        model = _model_of(envelope)
        async with self._deadline(model):
            body = await self._json(":generateContent", access_token, envelope, model=model, extra_headers=headers)
        return _unwrap(body, model)

    async def count_tokens(self, access_token: str, request: Mapping[str, Any]) -> int:
        """``countTokens`` with the body ``{"request": ...}`` only (top-level model/project are rejected, §1.3)."""
        async with self._deadline(None):
            body = await self._json(":countTokens", access_token, {"request": request})
        for holder in (body, body.get("response") if isinstance(body, dict) else None):
            if isinstance(holder, dict) and isinstance(holder.get("totalTokens"), int | str):
                try:
                    return int(holder["totalTokens"])
                except ValueError:
                    break
        raise UpstreamError(Failure(FailureKind.SERVER_ERROR, status=200,
                                    message="Upstream countTokens answer has no totalTokens"))

    # ------------------------------------------------------------------------------------------ bootstrap

    async def load_code_assist(self, access_token: str, *, project: str | None = None) -> CodeAssistInfo:
        """Project id and tier (paidTier → currentTier → default allowed tier); unpacks as (project, tier, raw)."""
        body: dict[str, Any] = {"metadata": dict(CLIENT_METADATA)}
        if project:
            body["cloudaicompanionProject"] = project
            body["metadata"]["duetProject"] = project
        async with self._deadline(None):
            raw = await self._json(":loadCodeAssist", access_token, body)
        return parse_load_code_assist(raw)

    async def onboard_user(self, access_token: str, tier_id: str, poll_interval: float = 2.0,
                           max_polls: int = 10) -> str | None:
        """Run the onboardUser long-running operation; the new project id, or None if it did not finish.
        Polls with ``GET operations/<id>`` when the operation has a name, else by re-POSTing (§6.2)."""
        body = {"tierId": tier_id, "metadata": dict(CLIENT_METADATA)}
        async with self._deadline(None):
            op = await self._json(":onboardUser", access_token, body)
            for _ in range(max_polls):
                if not isinstance(op, dict) or op.get("done"):
                    break
                await trio.sleep(poll_interval)
                name = op.get("name")
                if isinstance(name, str) and _OPERATION_NAME.fullmatch(name):
                    op = await self._json("/" + name, access_token, None, http_method="GET")
                else:
                    op = await self._json(":onboardUser", access_token, body)
        return project_from_operation(op)

    async def fetch_available_models(self, access_token: str, project: str | None) -> ModelCatalog:
        """Models with quota for this account (``{"project": ...}``, or ``{}`` without a project)."""
        async with self._deadline(None):
            raw = await self._json(":fetchAvailableModels", access_token, {"project": project} if project else {})
        return parse_available_models(raw)


# ---------------------------------------------------------------------------------------------------- helpers


async def _read_capped(response: httpx.Response, cap: int, *, truncate: bool) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > cap:
            if truncate:
                return bytes(data[:cap])
            raise UpstreamError(Failure(FailureKind.TRANSPORT, status=response.status_code,
                                        message=f"Upstream answer larger than {cap} bytes"))
    return bytes(data)


def _model_of(envelope: Mapping[str, Any] | bytes) -> str | None:
    if isinstance(envelope, Mapping):
        model = envelope.get("model")
        return model if isinstance(model, str) else None
    return None


def _unwrap(body: Any, model: str | None) -> dict:
    if isinstance(body, dict):
        inner = body.get("response", body)
        if isinstance(inner, dict):
            return inner
    raise UpstreamError(Failure(FailureKind.SERVER_ERROR, status=200, model=model,
                                message="Upstream answer is not a GenerateContentResponse"))


def _host(base: str) -> str:
    return httpx.URL(base).host
