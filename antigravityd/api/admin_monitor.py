"""``/api/monitor/*``: the request log (metadata only — no prompt, no response, no key was ever recorded), its
statistics per hour/day/model/account, and token totals with the cache-hit rate, all read from the store.

Paging: ``GET /api/monitor/requests`` answers newest first with ``next_before``, an opaque cursor naming the last
row; pass it back as ``before`` for the next page.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from antigravityd.api.admin_common import (
    BadRequest,
    admin_handler,
    iso,
    query_bool,
    query_int,
    query_text,
    query_time,
)
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.store import RequestRecord, StatsRow
from antigravityd.store import validate as v

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["decode_cursor", "encode_cursor", "register", "request_json"]

MAX_PAGE = 1000
STATS_DEFAULT_WINDOW = {"hour": timedelta(hours=24), "day": timedelta(days=30), "model": timedelta(hours=24),
                        "account": timedelta(hours=24)}
CONTENT_NOTE = "Request and response content is never recorded: only metadata (time, route, model, account, " \
               "status, token counts, latency)."


def encode_cursor(row: RequestRecord) -> str:
    raw = f"{row.ts.astimezone(UTC).isoformat()}|{row.request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, _, request_id = raw.partition("|")
        moment = datetime.fromisoformat(ts)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("before is not a cursor returned by this endpoint", param="before") from None
    if moment.tzinfo is None or not request_id:
        raise BadRequest("before is not a cursor returned by this endpoint", param="before")
    return moment, request_id


def request_json(row: RequestRecord) -> dict[str, Any]:
    return {
        "request_id": row.request_id, "ts": iso(row.ts), "ts_ms": int(row.ts.timestamp() * 1000),
        "dialect": row.dialect, "path": row.path, "status": row.status, "stream": row.stream,
        "requested_model": row.requested_model, "mapped_model": row.mapped_model,
        "account_id": row.account_id, "account_email": row.account_email, "error_class": row.error_class,
        "tokens_in": row.tokens_in, "tokens_out": row.tokens_out, "tokens_cached": row.tokens_cached,
        "tokens_thinking": row.tokens_thinking, "latency_ms": row.latency_ms, "ttfb_ms": row.ttfb_ms,
    }


def stats_json(row: StatsRow) -> dict[str, Any]:
    return {
        "key": row.key, "label": row.label, "start": iso(row.start), "requests": row.requests, "errors": row.errors,
        "tokens_in": row.tokens_in, "tokens_out": row.tokens_out, "tokens_cached": row.tokens_cached,
        "tokens_thinking": row.tokens_thinking,
        "avg_latency_ms": None if row.avg_latency_ms is None else round(row.avg_latency_ms, 1),
        "success_rate": None if row.success_rate is None else round(row.success_rate, 4),
    }


def register(router: Router, services: Services) -> None:
    repo = services.repo

    @admin_handler
    async def requests(request: Request) -> Response:
        now = datetime.now(UTC)
        limit = query_int(request, "limit", 100, 1, MAX_PAGE)
        cursor = query_text(request, "before", limit=1024)
        account = query_text(request, "account", limit=v.MAX_EMAIL)
        account_id = None
        if account is not None:
            if v.is_uuid(account):
                account_id = v.account_id(account)
            elif "@" in account:
                account_id = (await repo.get_account_by_email(account)).id
            else:
                raise BadRequest("account must be an account id (UUID) or an email", param="account")
        rows = await repo.recent_requests(
            limit=limit,
            before=decode_cursor(cursor) if cursor else None,
            since=query_time(request, "since", None, now),
            account_id=account_id,
            model=query_text(request, "model"),
            dialect=query_text(request, "dialect", limit=32),
            errors_only=query_bool(request, "errors_only"),
        )
        return json_response({
            "requests": [request_json(r) for r in rows],
            "next_before": encode_cursor(rows[-1]) if len(rows) == limit else None,
            "content_recorded": False,
            "note": CONTENT_NOTE,
        })

    @admin_handler
    async def stats(request: Request) -> Response:
        by = request.query.get("by") or "hour"
        if by not in STATS_DEFAULT_WINDOW:
            raise BadRequest("by must be hour, day, model or account", param="by")
        now = datetime.now(UTC)
        since = query_time(request, "since", now - STATS_DEFAULT_WINDOW[by], now)
        until = query_time(request, "until", None, now)
        if until is not None and until <= since:  # type: ignore[operator]
            raise BadRequest("until must be after since", param="until")
        rows = await repo.request_stats(by, since=since, until=until)  # type: ignore[arg-type]
        return json_response({"by": by, "since": iso(since), "until": iso(until),
                              "rows": [stats_json(r) for r in rows]})

    @admin_handler
    async def tokens(request: Request) -> Response:
        now = datetime.now(UTC)
        since = query_time(request, "since", now - timedelta(hours=24), now)
        until = query_time(request, "until", None, now)
        if until is not None and until <= since:  # type: ignore[operator]
            raise BadRequest("until must be after since", param="until")
        t = await repo.token_totals(since=since, until=until)  # type: ignore[arg-type]
        rate = t.cache_hit_rate
        return json_response({
            "since": iso(since), "until": iso(until), "requests": t.requests, "errors": t.errors,
            "success_rate": None if not t.requests else round((t.requests - t.errors) / t.requests, 4),
            "tokens_in": t.tokens_in, "tokens_out": t.tokens_out, "tokens_cached": t.tokens_cached,
            "tokens_thinking": t.tokens_thinking, "tokens_total": t.tokens_in + t.tokens_out,
            "cache_hit_rate": None if rate is None else round(rate, 4),
        })

    router.get("/api/monitor/requests", requests, watch_client=False)
    router.get("/api/monitor/stats", stats, watch_client=False)
    router.get("/api/monitor/tokens", tokens, watch_client=False)
