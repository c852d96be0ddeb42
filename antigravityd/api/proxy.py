"""What every dialect's generate endpoint does around its own translation: parse the body, resolve the model,
build the :class:`~antigravityd.pipeline.call.Call` and the dialect's :class:`~antigravityd.pipeline.plan.Plan`,
and hand both to the pipeline. Client mistakes come back as 4xx in the dialect's own error format."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import trio

from antigravityd.api.errors import Dialect, error_response
from antigravityd.http.message import Request, Response
from antigravityd.pipeline.call import Call
from antigravityd.pipeline.plan import Plan
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import ModelRoute

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["BadRequest", "parse_body", "run_plan", "upstream_count"]


class BadRequest(Exception):
    """The request cannot be served; ``response`` is the dialect-formatted 4xx to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def parse_body(request: Request, dialect: Dialect) -> dict[str, Any]:
    """The JSON object body, or BadRequest (400) in the caller's format."""
    if not request.body:
        raise BadRequest(error_response(dialect, 400, "the request body must be a JSON object"))
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(error_response(dialect, 400, f"invalid JSON body: {e}")) from None
    if not isinstance(body, dict):
        raise BadRequest(error_response(dialect, 400, "the request body must be a JSON object"))
    return body


def bool_field(body: dict[str, Any], name: str, dialect: Dialect) -> bool:
    """A boolean request field such as ``stream``: absent or null is False; anything but a bool is a 400."""
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        param = name if dialect is Dialect.OPENAI else None
        raise BadRequest(error_response(dialect, 400, f"{name} must be a boolean", param=param))
    return value


def client_error(dialect: Dialect, e: ClientError) -> Response:
    kind = "invalid_request_error" if dialect is not Dialect.GEMINI else None
    if e.status == 404:
        kind = "not_found_error" if dialect is Dialect.ANTHROPIC else None
    return error_response(dialect, e.status, e.message, kind=kind, param=e.param, code=e.code)


async def run_plan(request: Request, services: Services, *, dialect: Dialect, model: object, stream: bool,
                   session_id: str | None, build: Callable[[ModelRoute], Plan]) -> Response | None:
    """Resolve ``model``, translate with ``build(route)``, run the pipeline."""
    try:
        route = services.catalog.resolve(model)
        plan = build(route)
    except ClientError as e:
        return client_error(dialect, e)
    call = Call(
        request_id=request.request_id,
        dialect=dialect.value,
        path=request.path,
        stream=stream,
        requested_model=str(model),
        upstream_model=route.upstream,
        mapping_reason=route.reason,
        session_id=session_id,
        force_account=request.headers.get("x-force-account") or None,
        started=trio.current_time(),
    )
    request.context.update(MODEL=route.upstream, DIALECT=dialect.value)
    response = await services.pipeline.run(request, call, plan)
    if call.account_email:
        request.context["ACCOUNT"] = call.account_email
    return response


COUNT_TIMEOUT = 15.0


async def upstream_count(services: Services, model: str, request: dict[str, Any]) -> int | None:
    """``countTokens`` of an inner ``request`` through any account that may serve ``model``; None when none can
    answer now (callers then estimate locally). Counting is not billed: no retries, no lockouts."""
    from antigravityd.accounts.tokens import TokenUnavailable
    from antigravityd.routing.state import Unavailable
    from antigravityd.upstream.errors import UpstreamError

    got = services.pool.select(model, exclude=(), now=trio.current_time())
    if isinstance(got, Unavailable):
        return None
    with got as lease:
        try:
            with trio.move_on_after(COUNT_TIMEOUT):
                access = await services.tokens.access(lease.account_id)
                return await services.upstream.count_tokens(access.token, request)
        except (TokenUnavailable, UpstreamError):
            return None
    return None
