"""``POST /v1internal:{method}`` and ``GET /v1internal/operations/{id}`` (upstream-protocol.md §1.3, §3, §6)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from . import errors, proto
from .bootstrap import available_models, load_code_assist_response
from .faults import ERROR_KINDS, Fault, FaultKind
from .generation import Context, merged_response, plan_reply, stream_events, thoughts_only_events, wrap
from .proto import get
from .state import Account, Operation
from .validation import Rules, check_envelope, check_proto, estimate_tokens

if TYPE_CHECKING:
    from .app import FakeUpstream
    from .httpserver import Request, Response

STREAM_FAULTS = frozenset({FaultKind.CUT_STREAM, FaultKind.EMPTY_STREAM, FaultKind.THOUGHTS_ONLY, FaultKind.STALL,
                           FaultKind.SPLIT_UTF8, FaultKind.SLOW_FIRST_BYTE, FaultKind.HEARTBEATS})


class DropConnection(Exception):  # a control-flow signal, not an error
    """Close the connection without answering (the fake's DROP_CONNECTION fault)."""
@dataclass(frozen=True, slots=True)
class _Reply:
    """A streamed answer kept for Behaviour.reuse_replies."""

    pieces: list[bytes]
    delay: float
    first_byte_delay: float
    trace_id: str


_REPLY_KEYS = ("contents", "generationConfig", "tools", "toolConfig", "systemInstruction")
_UA_VERSION = re.compile(r"antigravity/(?:[a-z]+/)?(\d+(?:\.\d+)*)", re.I)


def parse_json(req: Request) -> Any:
    try:
        return orjson.loads(req.body) if req.body else {}
    except orjson.JSONDecodeError:
        raise errors.invalid_argument(
            "Invalid JSON payload received. Unexpected token.\n" + req.body[:40].decode("utf-8", "replace")) from None


class CloudCode:
    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake
        self.replies: dict[bytes, _Reply] = {}  # Behaviour.reuse_replies

    # --------------------------------------------------------------------------------------------- common

    def authenticate(self, req: Request, rpc_title: str) -> Account:
        fake = self.fake
        auth = req.headers.get("authorization", "")
        if not auth:
            if fake.strict.auth:
                raise errors.unauthenticated("CREDENTIALS_MISSING", rpc_title)
            return next(iter(fake.state.accounts.values()))
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        account, problem = fake.state.lookup_token(token)
        if problem and fake.strict.auth:
            raise errors.unauthenticated(problem, rpc_title)
        if account is None:
            if fake.strict.auth or not fake.state.accounts:
                raise errors.unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED", rpc_title)
            account = next(iter(fake.state.accounts.values()))
        return account

    def check_user_agent(self, req: Request) -> None:
        if not self.fake.strict.user_agent:
            return
        ua = req.headers.get("user-agent", "").lower()
        if not ua.startswith(("antigravity", "google-api-nodejs-client")):
            raise errors.RpcError(403, errors.status_body(403, "Permission denied on resource project.", [
                errors.error_info("CONSUMER_INVALID", {"service": errors.DOMAIN}, domain="googleapis.com")]))

    def version_gated(self, req: Request) -> bool:
        minimum = self.fake.strict.min_client_version
        if not minimum:
            return False
        match = _UA_VERSION.search(req.headers.get("user-agent", ""))
        version = req.headers.get("x-client-version") or (match.group(1) if match else "0")

        def parts(v: str) -> tuple[int, ...]:
            return tuple(int(x) for x in re.findall(r"\d+", v)[:4])
        return parts(version) < parts(minimum)

    def error_fault(self, fault: Fault, model: str | None) -> errors.RpcError:
        p = fault.params
        now = self.fake.state.now()
        kind = fault.kind
        if kind is FaultKind.DROP_CONNECTION:
            raise DropConnection
        model = model or "gemini-3-flash"
        if kind is FaultKind.RATE_LIMIT:
            err = errors.rate_limited(model, float(p.get("delay", 0.634846608)), now)
        elif kind is FaultKind.QUOTA_EXHAUSTED:
            err = errors.quota_exhausted(model, float(p.get("reset_in", 581981.300432511)), now,
                                         p.get("message", errors.QUOTA_MESSAGE))
        elif kind is FaultKind.RESOURCE_EXHAUSTED:
            err = errors.resource_exhausted()
        elif kind is FaultKind.CAPACITY:
            delay = p.get("retry_delay")
            err = errors.capacity(model, None if delay is None else float(delay))
        elif kind is FaultKind.SERVER_ERROR:
            err = errors.internal()
        elif kind is FaultKind.UNAVAILABLE:
            err = errors.unavailable()
        elif kind is FaultKind.UNAUTHENTICATED:
            err = errors.unauthenticated(p.get("reason", "ACCESS_TOKEN_EXPIRED"))
        elif kind is FaultKind.VERIFICATION_REQUIRED:
            err = errors.verification_required(*([p["url"]] if "url" in p else []))
        elif kind is FaultKind.TOS_VIOLATION:
            err = errors.tos_violation(*([p["appeal_url"]] if "appeal_url" in p else []))
        elif kind is FaultKind.SERVICE_DISABLED:
            err = errors.service_disabled()
        elif kind is FaultKind.NOT_FOUND:
            err = errors.not_found()
        else:
            err = errors.RpcError(int(p.get("status", 500)), p.get("body", ""),
                                  [tuple(h) for h in p.get("headers", [])])
        if p.get("array"):
            err.body = [err.body]
        if "retry_after" in p:
            err.headers.append(("retry-after", str(p["retry_after"])))
        return err

    # --------------------------------------------------------------------------------------------- dispatch

    async def handle(self, req: Request, resp: Response, method: str) -> None:
        fake = self.fake
        if req.method != "POST":
            raise errors.RpcError(404, errors.status_body(404, "Method not found."))
        handler = {
            "generateContent": self.generate, "streamGenerateContent": self.generate,
            "countTokens": self.count_tokens, "loadCodeAssist": self.load_code_assist,
            "onboardUser": self.onboard_user, "fetchAvailableModels": self.fetch_available_models,
            "retrieveUserQuotaSummary": self.quota_summary,
        }.get(method)
        if handler is None:
            fake.stats.record_request(None, method)
            raise errors.not_found("Method not found.")
        await handler(req, resp, method)

    def begin(self, req: Request, rpc: str, title: str) -> tuple[Account | None, Any, errors.RpcError | None]:
        """Authenticate, parse, count and record; returns (account, body, pending error)."""
        fake = self.fake
        account: Account | None = None
        pending: errors.RpcError | None = None
        body: Any = None
        try:
            account = self.authenticate(req, title)
            body = parse_json(req)
        except errors.RpcError as e:
            pending = e
        email = account.email if account else None
        model = get(body, "model") if isinstance(body, dict) else None
        req.tags.update(rpc=rpc, email=email, model=model)
        fake.stats.record_request(email, rpc)
        fake.record(rpc, req, email, model, body)
        if pending is None and (fault := fake.faults.take(email, model, rpc, kinds=ERROR_KINDS)) is not None:
            fake.stats.faults_fired[str(fault.kind)] += 1
            pending = self.error_fault(fault, model)
        return account, body, pending

    # --------------------------------------------------------------------------------------------- generation

    async def generate(self, req: Request, resp: Response, rpc: str) -> None:
        fake = self.fake
        sse = rpc == "streamGenerateContent" and "sse" in (req.query.get("alt"), req.query.get("$alt"))
        resp_is_stream = rpc == "streamGenerateContent"
        req.tags["stream"] = resp_is_stream
        title = "StreamGenerateContent" if resp_is_stream else "GenerateContent"
        account, envelope, pending = self.begin(req, rpc, title)
        email = account.email if account else None
        if email is not None:
            fake.stats.enter(email)
        try:
            if pending is not None:
                raise pending
            assert account is not None
            self.check_user_agent(req)
            check_envelope(envelope, fake.strict)
            model_id = get(envelope, "model", "")
            spec = account.models.get(model_id)
            if spec is None:
                if fake.strict.unknown_model or not account.models:
                    raise errors.not_found()
                spec = next(iter(account.models.values())).with_(id=model_id)
            request = get(envelope, "request", {}) or {}
            quota = fake.state.quota(account, spec)
            if quota.used >= quota.limit:
                raise errors.quota_exhausted(spec.id, max(0.0, quota.reset_at - fake.state.now()), fake.state.now())
            Rules(fake.state, fake.strict, spec, request).run()
            quota.used += 1
            stream_faults = self.stream_faults(email, model_id, rpc)
            b = fake.behaviour
            reuse_key = None
            if b.reuse_replies and sse and not stream_faults:
                reuse_key = orjson.dumps([model_id, *(request.get(k) for k in _REPLY_KEYS)],
                                         option=orjson.OPT_SORT_KEYS)
                if (reply := self.replies.get(reuse_key)) is not None:
                    if reply.first_byte_delay:
                        await fake.pacer.sleep(reply.first_byte_delay)
                    await self.send_reply(resp, reply)
                    return
            ctx = Context(
                model=spec, request=request, issue_signature=fake.state.issue_signature,
                new_call_id=lambda: f"toolu_vrtx_01{fake.state.base62(22)}" if spec.family == "claude"
                else f"call_{fake.state.token_hex(16)}",
                gemini_call_ids=b.gemini_call_ids, claude_signature_position=b.claude_signature_position,
                fragment_chars=b.text_fragment_chars, version_gated=self.version_gated(req),
                utf8_prefix=FaultKind.SPLIT_UTF8 in stream_faults,
            )
            plan = plan_reply(ctx)
            claude = spec.family == "claude"
            response_id = f"msg_vrtx_01{fake.state.base62(22)}" if claude else fake.state.base64url(22)
            model_version = spec.id + b.model_version_suffix
            trace_id = fake.state.token_hex(16)
            delay = plan.first_byte_delay
            if (slow := stream_faults.get(FaultKind.SLOW_FIRST_BYTE)) is not None:
                delay += float(slow.params.get("delay_ms", 1000)) / 1000
            if delay:
                await self.fake.pacer.sleep(delay)
            if not resp_is_stream:
                body = wrap(merged_response(plan, model_version=model_version, response_id=response_id,
                                            claude=claude), trace_id)
                await self.send_unary(resp, body, trace_id, stream_faults.get(FaultKind.CUT_STREAM))
                return
            events = stream_events(plan, model_version=model_version, response_id=response_id, claude=claude)
            cut = stream_faults.get(FaultKind.CUT_STREAM)
            if FaultKind.EMPTY_STREAM in stream_faults:
                events = []
            elif (only := stream_faults.get(FaultKind.THOUGHTS_ONLY)) is not None:
                events = thoughts_only_events(plan, int(only.params.get("count", 3)), model_version=model_version,
                                              response_id=response_id)
            elif cut is not None:
                events = events[: int(cut.params.get("after_events", 1))]
                # A cut stream never delivers the final chunk: strip finishReason if the cut fell on it.
                for event in events:
                    for candidate in event["candidates"]:
                        candidate.pop("finishReason", None)
            beats = stream_faults.get(FaultKind.HEARTBEATS)
            if beats is not None and beats.params.get("only"):
                events = []
            if reuse_key is not None and plan.delay:
                reply = _Reply([b"data: " + orjson.dumps(wrap(e, trace_id)) + b"\n\n" for e in events], plan.delay,
                               plan.first_byte_delay, trace_id)
                if len(self.replies) < 64:
                    self.replies[reuse_key] = reply
                await self.send_reply(resp, reply)
                return
            await self.send_stream(resp, [wrap(e, trace_id) for e in events], trace_id, sse=sse,
                                   delay=plan.delay, stall=stream_faults.get(FaultKind.STALL),
                                   split=FaultKind.SPLIT_UTF8 in stream_faults,
                                   abort=cut is not None and cut.params.get("mode", "close") == "close",
                                   heartbeats=int(beats.params.get("count", 3)) if beats is not None else 0)
        finally:
            if email is not None:
                fake.stats.leave(email)

    async def send_reply(self, resp: Response, reply: _Reply) -> None:
        await resp.start(200, [("content-type", "text/event-stream"), *self.fake.common_headers(reply.trace_id)])
        await resp.write_paced(reply.pieces, reply.delay, self.fake.pacer)
        await resp.end()

    def stream_faults(self, email: str | None, model: str, rpc: str) -> dict[FaultKind, Fault]:
        found: dict[FaultKind, Fault] = {}
        for kind in STREAM_FAULTS:
            fault = self.fake.faults.take(email, model, rpc, kinds=frozenset({kind}))
            if fault is not None:
                found[kind] = fault
                self.fake.stats.faults_fired[str(kind)] += 1
        return found

    async def send_unary(self, resp: Response, body: dict, trace_id: str, cut: Fault | None) -> None:
        data = orjson.dumps(body)
        headers = [("content-type", "application/json; charset=UTF-8"), *self.fake.common_headers(trace_id)]
        if cut is None:
            await resp.send(200, data, headers)
            return
        await resp.start(200, [*headers, ("content-length", str(len(data)))])
        await resp.write(data[: len(data) // 2])
        await resp.abort()

    async def send_stream(self, resp: Response, events: list[dict], trace_id: str, *, sse: bool, delay: float,
                          stall: Fault | None, split: bool, abort: bool, heartbeats: int = 0) -> None:
        content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
        await resp.start(200, [("content-type", content_type), *self.fake.common_headers(trace_id)])
        for _ in range(heartbeats if sse else 0):
            await resp.write(b": keep-alive\n\n")
            if delay:
                await self.fake.pacer.sleep(delay)
        stall_after = int(stall.params.get("after_events", 1)) if stall else -1
        stall_every = bool(stall.params.get("every")) if stall else False
        stall_for = float(stall.params.get("delay_ms", 1000)) / 1000 if stall else 0.0
        if sse and self.fake.behaviour.coalesce_events and not (delay or stall or split or abort):
            await resp.write(b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events))
            await resp.end()
            return
        if sse and delay and not (stall or split or abort):
            await resp.write_paced([b"data: " + orjson.dumps(event) + b"\n\n" for event in events], delay,
                                   self.fake.pacer)
            await resp.end()
            return
        if not sse:
            await resp.write(b"[")
        for index, event in enumerate(events):
            if index and delay:
                await self.fake.pacer.sleep(delay)
            if stall and (index == stall_after or (stall_every and index)):
                await self.fake.pacer.sleep(stall_for)
            payload = orjson.dumps(event)
            data = b"data: " + payload + b"\n\n" if sse else (b",\r\n" if index else b"") + payload
            if split:
                cut_at = _inside_multibyte(data)
                await resp.write(data[:cut_at])
                await resp.write(data[cut_at:])
            else:
                await resp.write(data)
        if abort:
            await resp.abort()
            return
        if not sse:
            await resp.write(b"]")
        await resp.end()

    # --------------------------------------------------------------------------------------------- others

    async def count_tokens(self, req: Request, resp: Response, rpc: str) -> None:
        _, body, pending = self.begin(req, rpc, "CountTokens")
        if pending is not None:
            raise pending
        self.check_user_agent(req)
        check_proto(body, proto.COUNT_TOKENS_ENVELOPE, self.fake.strict)
        request = get(body, "request", {}) or {}
        total = estimate_tokens(request)
        out: dict[str, Any] = {"totalTokens": total,
                               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        await self.fake.send_json(resp, 200, {"response": out} if self.fake.behaviour.count_tokens_nested else out)

    async def load_code_assist(self, req: Request, resp: Response, rpc: str) -> None:
        account, body, pending = self.begin(req, rpc, "LoadCodeAssist")
        if pending is not None:
            raise pending
        assert account is not None
        self.check_user_agent(req)
        check_proto(body, proto.LOAD_CODE_ASSIST, self.fake.strict)
        await self.fake.send_json(resp, 200, load_code_assist_response(account))

    async def onboard_user(self, req: Request, resp: Response, rpc: str) -> None:
        account, body, pending = self.begin(req, rpc, "OnboardUser")
        if pending is not None:
            raise pending
        assert account is not None
        self.check_user_agent(req)
        check_proto(body, proto.ONBOARD_USER, self.fake.strict)
        tier = get(body, "tierId")
        if not tier:
            raise errors.invalid_argument("tier_id is required.")
        state = self.fake.state
        op = next((o for o in state.operations.values() if o.email == account.email), None)
        if op is None:
            op = Operation(f"operations/onboard-{state.token_hex(6)}", account.email, account.onboard_polls, tier)
            state.operations[op.name] = op
        await self.fake.send_json(resp, 200, self.poll(op))

    def poll(self, op: Operation) -> dict:
        state = self.fake.state
        if op.polls_left > 0:
            op.polls_left -= 1
            return {"name": op.name, "done": False}
        account = state.accounts[op.email]
        if account.project is None:
            account.project = f"fake-onboarded-{state.next_id()}-{state.token_hex(6)}"
            account.tier = op.tier
        return {"name": op.name, "done": True, "response": {
            "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
            "cloudaicompanionProject": {"id": account.project,
                                        "name": f"projects/{zlib.crc32(account.project.encode()):012d}"},
        }}

    async def get_operation(self, req: Request, resp: Response, name: str) -> None:
        account = self.authenticate(req, "GetOperation")
        self.fake.stats.record_request(account.email, "getOperation")
        self.fake.record("getOperation", req, account.email, None, None)
        op = self.fake.state.operations.get(name)
        if op is None or op.email != account.email:
            raise errors.not_found()
        await self.fake.send_json(resp, 200, self.poll(op))

    async def fetch_available_models(self, req: Request, resp: Response, rpc: str) -> None:
        account, body, pending = self.begin(req, rpc, "FetchAvailableModels")
        if pending is not None:
            raise pending
        assert account is not None
        self.check_user_agent(req)
        check_proto(body, proto.FETCH_AVAILABLE_MODELS, self.fake.strict)
        await self.fake.send_json(resp, 200, available_models(self.fake, account))

    async def quota_summary(self, req: Request, resp: Response, rpc: str) -> None:
        account, body, pending = self.begin(req, rpc, "RetrieveUserQuotaSummary")
        if pending is not None:
            raise pending
        assert account is not None
        check_proto(body, proto.RETRIEVE_QUOTA_SUMMARY, self.fake.strict)
        state = self.fake.state
        groups = []
        for title, family in (("Gemini models", "gemini"), ("Third-party models", "claude")):
            quotas = [state.quota(account, m) for m in account.models.values() if m.family == family and not m.internal]
            if not quotas:
                continue
            worst = min(quotas, key=lambda q: q.remaining_fraction())
            bucket: dict[str, Any] = {"bucketId": f"{family}-5h", "window": "5h", "displayName": "5-hour limit",
                                      "resetTime": errors.rfc3339(worst.reset_at)}
            if worst.remaining_fraction() > 0:
                bucket["remainingFraction"] = worst.remaining_fraction()
            groups.append({"displayName": title, "buckets": [bucket]})
        await self.fake.send_json(resp, 200, {"groups": groups})


def _inside_multibyte(data: bytes) -> int:
    """An offset that falls inside the first multi-byte UTF-8 character (or the middle, if there is none)."""
    for i, byte in enumerate(data):
        if byte >= 0xC0:
            return i + 1
    return max(1, len(data) // 2)
