"""The pipeline: one request, many possible accounts, one answer — the same for every client dialect.

For each attempt: take an account from the pool (the lease holds its concurrency slot until the answer has been
streamed, on every path), get a fresh token, send the request upstream (always streamed), and **peek**: wait for
the first meaningful event before committing anything to the client. Failures before that point (429, 5xx, 401,
an empty stream, no first byte in time) are retried per the one retry policy (``routing/retry.py``), invisibly
to the client. After the status line has gone out a failure can only **abort** the connection — no fake end of
stream; a stream that simply ends without a finish reason is closed as truncated (``length``/``max_tokens``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from antigravityd.accounts.tokens import Access, TokenManager, TokenUnavailable
from antigravityd.api.errors import Dialect, error_response
from antigravityd.http.message import AbortStream, Request, Response
from antigravityd.http.sse import SSE_HEADERS
from antigravityd.outcomes import Failure, FailureKind
from antigravityd.pipeline.call import Call
from antigravityd.pipeline.keepalive import KeepAlives, Outlet
from antigravityd.pipeline.pacing import RelayPacer
from antigravityd.pipeline.plan import Plan, Translator
from antigravityd.routing.lease import Lease
from antigravityd.routing.pool import AccountPool
from antigravityd.routing.retry import Action, RetryPolicy, RetryState, plan_unavailable
from antigravityd.routing.state import PoolEvent, Unavailable, Why
from antigravityd.translate.upstream_events import is_meaningful
from antigravityd.upstream.client import CloudCodeClient, UpstreamStream
from antigravityd.upstream.errors import UpstreamError
from antigravityd.upstream.sse import HEARTBEAT

__all__ = ["Pipeline", "PipelineSettings", "Releases"]

log = logging.getLogger("antigravityd.pipeline")


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    first_byte_timeout: float = 90.0
    max_heartbeats: int = 20  # upstream keep-alive comments tolerated before the first real event
    keepalive_interval: float = 15.0  # silence after which a streaming client gets a keep-alive
    max_wait_for_account: float = 2.0  # for a lockout to end
    max_wait_for_capacity: float = 60.0  # for a concurrency slot: requests queue rather than fail
    expose_account_email: bool = False
    retry: RetryPolicy = RetryPolicy()


class Releases:
    """Wakes requests waiting for a concurrency slot when any lease is released."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            await self._event.wait()


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.kind.value)
        self.failure = failure


class Pipeline:
    def __init__(self, pool: AccountPool, tokens: TokenManager, upstream: CloudCodeClient, *,
                 settings: PipelineSettings, releases: Releases,
                 record: Callable[[Call], None], pool_events: Callable[[list[PoolEvent]], None]) -> None:
        self.pool = pool
        self.tokens = tokens
        self.upstream = upstream
        self.settings = settings
        self.keepalives = KeepAlives(settings.keepalive_interval)  # their run()s are supervised daemon tasks
        self.pacer = RelayPacer()
        self.releases = releases
        self.record = record
        self.pool_events = pool_events

    async def run(self, request: Request, call: Call, plan: Plan) -> Response | None:
        try:
            response = await self._run(request, call, plan)
            if response is not None:
                call.status = response.status
            return response
        except BaseException:
            if not call.status:
                call.status = 499 if not call.committed else 200
            raise
        finally:
            call.finished = trio.current_time()
            self.record(call)

    # -------------------------------------------------------------------------------------------- attempts

    async def _run(self, request: Request, call: Call, plan: Plan) -> Response | None:
        retry = RetryState(self.settings.retry)
        tried: set[str] = set()
        waited = queued = 0.0
        last: Failure | None = None
        while True:
            got = self.pool.select(plan.upstream_model, session_id=call.session_id, exclude=tried,
                                   now=trio.current_time(), force_email=call.force_account)
            if isinstance(got, Unavailable) and got.reason is Why.AT_CAPACITY:
                if queued < self.settings.max_wait_for_capacity:
                    # Every usable account is busy: queue for the next free slot (bounded), like a backlog.
                    started = trio.current_time()
                    await self.releases.wait(self.settings.max_wait_for_capacity - queued)
                    queued += trio.current_time() - started
                    continue
                return self._unavailable(call, plan, got, 1, last)
            if isinstance(got, Unavailable):
                wait = plan_unavailable(got, max_wait=self.settings.max_wait_for_account, waited=waited)
                if wait.wait is not None:
                    started = trio.current_time()
                    if got.reason is Why.AT_CAPACITY:
                        await self.releases.wait(wait.wait)
                    else:
                        await trio.sleep(wait.wait)
                    waited += trio.current_time() - started
                    continue
                return self._unavailable(call, plan, got, wait.retry_after, last)
            delay = 0.0
            with got as lease:
                call.account_id, call.account_email = lease.account_id, lease.email
                access: Access | None = None
                while True:
                    call.attempts += 1
                    try:
                        access = await self._access(lease, rejected=None)
                        return await self._attempt(request, call, plan, lease, access)
                    except _Failed as e:
                        last = e.failure
                    call.failures.append(last.kind)
                    self.pool_events(self.pool.record_failure(lease, last, now=trio.current_time(), wall=time.time()))
                    decision = retry.next(last, bytes_sent=call.committed)
                    if decision.action is Action.ABORT:
                        call.aborted, call.error_class = True, last.kind.value
                        raise AbortStream(last.kind.value)
                    if decision.action is Action.RETURN:
                        return self._error(call, plan, last)
                    if decision.action is Action.REFRESH_TOKEN:
                        if access is not None:
                            await self._refresh(lease, access.token)
                        continue
                    if decision.action is Action.REWRITE:
                        if not plan.rewrite_signatures():
                            return self._error(call, plan, last)
                        continue
                    if decision.action is Action.SAME_ACCOUNT:
                        await trio.sleep(decision.delay)
                        continue
                    tried.add(lease.account_id)
                    delay = decision.delay
                    break
            if delay:
                await trio.sleep(delay)

    async def _access(self, lease: Lease, rejected: str | None) -> Access:
        try:
            return await self.tokens.access(lease.account_id, rejected_token=rejected)
        except TokenUnavailable as e:
            raise _Failed(e.failure) from None

    async def _refresh(self, lease: Lease, rejected: str) -> None:
        """Upstream said 401 for this token: refresh it (unless another request already did)."""
        try:
            await self.tokens.access(lease.account_id, rejected_token=rejected)
        except TokenUnavailable:
            pass  # the next attempt's own access() reports it

    async def _attempt(self, request: Request, call: Call, plan: Plan, lease: Lease,
                       access: Access) -> Response | None:
        translator = plan.new_translator()
        started = trio.current_time()

        def succeeded(truncated: bool = False) -> None:
            """The answer is complete (or, streaming, closed as truncated): runs BEFORE its last bytes go out,
            because clients (Codex, Claude Code) hang up on the final event, which cancels what comes after."""
            now = trio.current_time()
            if truncated:
                call.truncated, call.error_class = True, FailureKind.TRUNCATED.value
                self.pool_events(self.pool.record_failure(
                    lease, Failure(FailureKind.TRUNCATED, model=plan.upstream_model), now=now, wall=time.time()))
            else:
                self.pool_events(self.pool.record_success(lease, now=now, latency=now - started))
            plan.remember(translator)
            call.usage.prompt, call.usage.output, call.usage.cached, call.usage.thinking = plan.usage(translator)

        try:
            async with self.upstream.stream_generate(access.token, plan.envelope(access.project_id),
                                                     headers=plan.upstream_headers) as stream:
                pending = await self._peek(stream)
                if plan.stream:
                    return await self._stream(request, call, plan, lease, translator, stream, pending, succeeded)
                response = await self._collect(call, plan, translator, stream, pending)
        except UpstreamError as e:
            raise _Failed(e.failure) from None
        succeeded()
        return response

    async def _peek(self, stream: UpstreamStream) -> list[dict]:
        """Read until the first meaningful event; what came before it (usage-only events) is kept."""
        pending: list[dict] = []
        heartbeats = 0
        with trio.move_on_after(self.settings.first_byte_timeout):
            async for item in stream.with_heartbeats():
                if item is HEARTBEAT:
                    heartbeats += 1
                    if heartbeats > self.settings.max_heartbeats:
                        raise _Failed(Failure(FailureKind.TIMEOUT, message="upstream sent only keep-alives"))
                    continue
                pending.append(item)  # type: ignore[arg-type]
                if is_meaningful(item):  # type: ignore[arg-type]
                    return pending
            raise _Failed(Failure(FailureKind.EMPTY_RESPONSE, message="upstream answered with an empty stream"))
        raise _Failed(Failure(FailureKind.TIMEOUT, message="no answer from upstream in time"))

    def _headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [("x-mapped-model", call.upstream_model), ("x-mapping-reason", call.mapping_reason)]
        if self.settings.expose_account_email and call.account_email:
            headers.append(("x-account-email", call.account_email))
        return headers

    async def _collect(self, call: Call, plan: Plan, translator: Translator, stream: UpstreamStream,
                       pending: list[dict]) -> Response:
        for event in pending:
            translator.feed(event)
        async for event in stream:
            translator.feed(event)
        if stream.finish_reason is None:
            # Nothing has reached the client yet: an unfinished answer is a failed attempt, not a short one.
            raise _Failed(Failure(FailureKind.TRANSPORT, message="upstream stream ended before its end"))
        translator.finish(truncated=False)
        response = plan.respond(translator)
        response.headers.extend(self._headers(call))
        return response

    async def _stream(self, request: Request, call: Call, plan: Plan, lease: Lease, translator: Translator,
                      stream: UpstreamStream, pending: list[dict], succeeded: Callable[[bool], None]) -> None:
        content_type = plan.content_type()
        headers = self._headers(call) + (SSE_HEADERS if content_type == "text/event-stream" else [])
        first = bytearray()
        for event in pending:
            first += plan.encode(translator.feed(event))
        writer = await request.stream(200, headers, content_type, first=bytes(first))  # the head and the first
        call.committed, call.first_byte, call.status = True, trio.current_time(), 200  # events in one write
        out = self.keepalives.open(writer, plan.keepalive())
        try:
            await self._pump(plan, translator, stream, out, succeeded)
        except _Failed as e:
            with trio.move_on_after(1.0):
                await out.write(plan.abort_bytes(e.failure))
            raise
        finally:
            out.close()

    async def _pump(self, plan: Plan, translator: Translator, stream: UpstreamStream, out: Outlet,
                    succeeded: Callable[[bool], None]) -> None:
        """Translate and write. Events that arrived together leave in one write (fewer sends, same latency); the
        last ones leave with the end of the body."""
        batch = bytearray()
        try:
            async for event in stream:
                batch += plan.encode(translator.feed(event))
                if not stream.buffered:
                    await out.write(bytes(batch))
                    batch.clear()
                    await self.pacer.pause()  # only when the loop is saturated (pacing.py)
        except UpstreamError as e:
            raise _Failed(e.failure) from None
        truncated = stream.finish_reason is None
        batch += plan.encode(translator.finish(truncated=truncated))
        succeeded(truncated)
        await out.finish(bytes(batch))

    # -------------------------------------------------------------------------------------------- errors

    def _error(self, call: Call, plan: Plan, failure: Failure) -> Response:
        status, message, kind = client_error(failure, plan.upstream_model)
        call.error_class = failure.kind.value
        headers = []
        if status == 429 and failure.retry_after is not None:
            headers.append(("retry-after", str(max(1, round(failure.retry_after)))))
        return error_response(Dialect(plan.dialect), status, message, kind=kind, headers=headers)

    def _unavailable(self, call: Call, plan: Plan, got: Unavailable, retry_after: int | None,
                     last: Failure | None) -> Response:
        if last is not None and got.reason is Why.NO_ACCOUNTS:
            return self._error(call, plan, last)  # every account was tried: the last real failure explains it
        call.error_class = f"no_account:{got.reason.value}"
        dialect = Dialect(plan.dialect)
        if got.reason is Why.NO_ACCOUNTS:
            return error_response(dialect, 503, "no usable account is configured", kind=_overloaded(dialect))
        if got.reason in (Why.UNKNOWN_FORCED_ACCOUNT, Why.FORCED_ACCOUNT_UNAVAILABLE):
            return error_response(dialect, 400 if got.reason is Why.UNKNOWN_FORCED_ACCOUNT else 429,
                                  f"X-Force-Account: {got.reason.value.replace('_', ' ')}")
        headers = [("retry-after", str(retry_after))] if retry_after is not None else []
        message = {
            Why.LOCKED: "every account is rate-limited for this model",
            Why.AT_CAPACITY: "every account is at its concurrency limit",
            Why.QUOTA_PROTECTED: "this model's quota is held in reserve on every account",
        }.get(got.reason, "no account is available")
        if retry_after is not None:
            message += f"; retry after {retry_after}s"
        return error_response(dialect, 429, message, kind=_rate_limit(dialect), headers=headers)


def _overloaded(dialect: Dialect) -> str | None:
    return "overloaded_error" if dialect is Dialect.ANTHROPIC else None


def _rate_limit(dialect: Dialect) -> str | None:
    return "rate_limit_error" if dialect is not Dialect.GEMINI else None


def client_error(failure: Failure, model: str) -> tuple[int, str, str | None]:
    """(status, message, error kind or None for the dialect default) for a failure we give up on.

    Our accounts' problems (revoked tokens, verification, bans) are never reported as the client's 401/403:
    SDKs would conclude that the *client's* key is wrong.
    """
    k = FailureKind
    kind = failure.kind
    detail = failure.message
    if kind is k.BAD_REQUEST:
        return 400, detail or "the upstream rejected the request", None
    if kind is k.PROMPT_TOO_LONG:
        # Claude Code compacts on this exact phrase; upstream details often start with it already.
        text = detail if detail.lower().startswith("prompt is too long") else f"Prompt is too long: {detail}"
        return 400, text if detail else "Prompt is too long", "invalid_request_error"
    if kind is k.SIGNATURE_INVALID:
        return 400, "a thinking block's signature was rejected upstream; resend without it", "invalid_request_error"
    if kind in (k.RATE_LIMITED, k.QUOTA_EXHAUSTED, k.RESOURCE_EXHAUSTED):
        return 429, f"rate limited on {model} by every available account" + (f": {detail}" if detail else ""), \
            "rate_limit_error"
    if kind is k.CAPACITY:
        return 503, f"no capacity upstream for {model}; try again shortly", "overloaded_error"
    if kind is k.NOT_FOUND:
        return 404, f"model {model} is not available on any account", "not_found_error"
    if kind is k.TIMEOUT:
        return 504, "the upstream did not answer in time", "api_error"
    if kind in (k.SERVER_ERROR, k.TRANSPORT, k.EMPTY_RESPONSE, k.TRUNCATED):
        return 502, f"upstream failure: {detail or kind.value}", "api_error"
    return 503, "no account could serve this request right now", "overloaded_error"
