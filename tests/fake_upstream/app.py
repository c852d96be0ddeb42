"""The fake upstream as one object: routing, the test-facing API and :func:`run_fake_upstream`."""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio

from . import control, errors
from .cloudcode import CloudCode, DropConnection
from .faults import GENERATE_RPCS, Fault, FaultKind, Faults
from .httpserver import Request, Response, serve
from .oauth import OAuth
from .pacing import Pacer
from .settings import Behaviour, Strictness
from .state import AUTO, Account, FakeState, Quota
from .stats import RecordedRequest, Stats


class FakeUpstream:
    """One listener of the fake Cloud Code + OAuth service. Build it with :func:`run_fake_upstream`."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.strict = Strictness()
        self.behaviour = Behaviour()
        self.faults = Faults()
        self.stats = Stats()
        self.pacer = Pacer()  # the delays between stream events (cheaper than trio.sleep at high concurrency)
        self.cloudcode = CloudCode(self)
        self.oauth = OAuth(self)
        self.deny_next_login = False
        self.internal_errors: list[str] = []  # tracebacks of the fake's own bugs
        self.port = 0
        self.host = "127.0.0.1"

    # --------------------------------------------------------------------------------------------- URLs

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1internal"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/token"

    @property
    def userinfo_url(self) -> str:
        return f"{self.root_url}/oauth2/v2/userinfo"

    @property
    def auth_url(self) -> str:
        return f"{self.root_url}/o/oauth2/v2/auth"

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    # --------------------------------------------------------------------------------------------- test API

    def add_account(self, email: str, *, project: object = AUTO, **kw: Any) -> Account:
        """Register an account (see ``FakeState.add_account``); it comes with a valid ``access_token``."""
        return self.state.add_account(email, project=project, **kw)

    def account(self, email: str) -> Account:
        return self.state.accounts[email]

    def inject(self, kind: FaultKind | str, *, account: str | None = None, model: str | None = None,
               rpcs: Iterable[str] | str | None = None, times: int | None = 1, **params: Any) -> Fault:
        """Make matching requests fail. ``account`` is an email or any token of the account; ``rpcs`` defaults
        to the two generation rpcs ("*" = all, e.g. "token", "loadCodeAssist"); ``times=None`` = until cleared."""
        if isinstance(rpcs, str):
            rpcs = [rpcs]
        fault = Fault(FaultKind(kind), account=self.state.resolve_account(account) if account else None,
                      model=model, rpcs=frozenset(rpcs) if rpcs else GENERATE_RPCS, times=times, params=params)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def revoke(self, refresh_token: str) -> None:
        self.state.revoke(refresh_token)

    def expire_access_tokens(self, email: str | None = None) -> None:
        self.state.expire_access_tokens(email)

    def set_quota(self, email: str, model: str, **kw: Any) -> Quota:
        return self.state.set_quota(email, model, **kw)

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.stats.recorded)

    def last_request(self, rpc: str | None = None) -> RecordedRequest:
        for item in reversed(self.stats.recorded):
            if rpc is None or item.rpc == rpc:
                return item
        raise LookupError(f"no {rpc or ''} request recorded")

    async def wait_for_disconnects(self, count: int = 1) -> None:
        """Until the fake has seen ``count`` clients close a connection mid-response (use with trio.fail_after)."""
        await self.stats.wait_until(lambda s: s.disconnects >= count)

    async def wait_for_requests(self, count: int = 1, *, rpc: str | None = None, email: str | None = None) -> None:
        await self.stats.wait_until(lambda s: s.count(email, rpc) >= count)

    # --------------------------------------------------------------------------------------------- plumbing

    def record(self, rpc: str, req: Request, email: str | None, model: str | None, body: Any) -> None:
        headers = {k: ("<redacted>" if k == "authorization" else v) for k, v in req.headers.items()}
        self.stats.recorded.append(RecordedRequest(rpc, req.target, email, model, headers, body))

    def common_headers(self, trace_id: str | None = None) -> list[tuple[str, str]]:
        return [("x-cloudaicompanion-trace-id", trace_id or self.state.token_hex(16)), ("server", "ESF"),
                ("x-content-type-options", "nosniff"), ("vary", "Origin, X-Origin, Referer")]

    async def send_json(self, resp: Response, status: int, body: Any, *, oauth: bool = False,
                        stream: bool = False, extra: list[tuple[str, str]] | None = None) -> None:
        content_type = "text/event-stream" if stream else "application/json; charset=UTF-8"
        headers = [("content-type", content_type), *(self.common_headers() if not oauth else []), *(extra or [])]
        data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        await resp.send(status, data, headers)

    async def handle(self, req: Request, resp: Response) -> None:
        try:
            await self.route(req, resp)
        except DropConnection:
            await resp.abort()
        except errors.RpcError as e:
            if resp.started:
                await resp.abort()
                return
            headers = list(e.headers)
            if self.behaviour.retry_after_header and e.status in (429, 503) \
                    and not any(h[0] == "retry-after" for h in headers):
                headers.append(("retry-after", "1"))
            is_oauth = req.path == "/token"
            await self.send_json(resp, e.status, e.body, oauth=is_oauth, stream=bool(req.tags.get("stream")),
                                 extra=headers)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception as e:  # a bug in the fake: answer 500, remember it (the test fixture fails on it)
            self.internal_errors.append("".join(traceback.format_exception(e)))
            if resp.started:
                await resp.abort()
            else:
                await self.send_json(resp, 500, errors.status_body(500, f"fake upstream bug: {type(e).__name__}"))

    async def route(self, req: Request, resp: Response) -> None:
        path = req.path
        if path.startswith("/v1internal:"):
            await self.cloudcode.handle(req, resp, path.removeprefix("/v1internal:"))
        elif path.startswith("/v1internal/operations/") and req.method == "GET":
            await self.cloudcode.get_operation(req, resp, path.removeprefix("/v1internal/"))
        elif path == "/token" and req.method == "POST":
            await self.oauth.token(req, resp)
        elif path in ("/oauth2/v2/userinfo", "/oauth2/v1/userinfo") and req.method == "GET":
            await self.oauth.userinfo(req, resp)
        elif path == "/o/oauth2/v2/auth" and req.method == "GET":
            await self.oauth.authorize(req, resp)
        elif path.startswith("/_fake/"):
            await control.handle(self, req, resp)
        else:
            raise errors.not_found(f"The requested URL {path} was not found on this server.")

    def on_disconnect(self, req: Request) -> None:
        self.stats.record_disconnect(str(req.tags.get("rpc", req.path)), req.tags.get("email"),  # type: ignore[arg-type]
                                     req.tags.get("model"))  # type: ignore[arg-type]


@asynccontextmanager
async def run_fake_upstream(*, host: str = "127.0.0.1", port: int = 0, state: FakeState | None = None,
                            seed: int = 0, now: Callable[[], float] = time.time,
                            client_id: str = "fake-client-id.apps.googleusercontent.com",
                            client_secret: str = "fake-client-secret") -> AsyncIterator[FakeUpstream]:
    """Serve a fake on ``host:port`` (0 = free port) for the duration of the block.

    Pass ``state=other.state`` to serve the same accounts/tokens/quota from a second port (another "host" of the
    same backend) with its own faults and counters — e.g. a sandbox host answering 503 before prod succeeds.
    """
    fake = FakeUpstream(state or FakeState(seed=seed, now=now, client_id=client_id, client_secret=client_secret))
    fake.host = host
    async with trio.open_nursery() as nursery:
        fake.port = await nursery.start(functools.partial(serve, fake.handle, fake.on_disconnect, host=host, port=port))
        try:
            yield fake
        finally:
            nursery.cancel_scope.cancel()
