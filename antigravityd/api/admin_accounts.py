"""``/api/accounts*`` and ``/api/events``: the accounts as the store knows them, merged with what the routing pool
is doing with them right now — and never a token.

A listing row joins three sources by account id: the store's account (flags and reasons, name, proxy URL, last
use), the pool's routing view (tier, per-model quota and protection, in-flight, lockouts, health, circuit, AIMD,
project) and, for accounts flagged for verification, the URL from their latest ``verification_required`` event.
The proxy URL is shown as ``scheme://***@host:port``: it may carry a password.

Changes go through the repository (which writes the matching ``account_events`` row in the same transaction);
the registry then reloads, so the pool routes by the new state before the response is sent (the seed applied
such changes only at the next token refresh).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
import trio

from antigravityd.api.admin_common import (
    BadRequest,
    admin_handler,
    epoch,
    iso,
    json_body,
    only_fields,
    path_account_id,
    query_int,
    query_text,
)
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.store import Account, AccountEvent, EventKind, QuotaSnapshot
from antigravityd.store import validate as v

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["account_json", "event_json", "register"]

DEFAULT_DISABLE_REASON = "disabled by an operator"
MAX_EVENTS_PAGE = 500


def _flags(account: Account, lockouts: list[dict[str, Any]], quota_forbidden: bool) -> dict[str, bool]:
    reason = (account.proxy_disabled_reason or "").lower()
    return {
        "disabled": account.disabled,
        "proxy_disabled": account.proxy_disabled,
        "verification_required": account.proxy_disabled and reason.startswith(("verification", "validation")),
        "banned": account.proxy_disabled and ("tos_banned" in reason or "tos_violation" in reason),
        "locked": bool(lockouts),
        "forbidden": quota_forbidden,
    }


def _status(flags: dict[str, bool], in_flight: int) -> str:
    """One word for the UI's status dot, most severe first."""
    for name in ("disabled", "banned", "verification_required", "proxy_disabled", "locked"):
        if flags[name]:
            return name
    return "active" if in_flight else "idle"


def _quota_models(routing: dict[str, Any] | None, stored: QuotaSnapshot | None,
                  protected: frozenset[str]) -> tuple[dict[str, dict[str, Any]], float | None, bool]:
    """Per-model quota: the pool's copy when the account is loaded (what routing uses), else the store's."""
    models: dict[str, dict[str, Any]] = {}
    if routing is not None:
        book = routing["quota"]
        for name, q in book["models"].items():
            models[name] = {"percent": q["percent"], "fraction": q["fraction"], "reset_at": q["reset_at"],
                            "reset_time": epoch(q["reset_at"]), "protected": name in book["protected_models"]}
        return models, book["fetched_at"], bool(book["forbidden"])
    if stored is None:
        return models, None, False
    for name, q in sorted(stored.models.items()):
        fraction = q.remaining_fraction if q.remaining_fraction is not None else (0.0 if q.reset_time else 1.0)
        reset_at = q.reset_time.timestamp() if q.reset_time else None
        models[name] = {"percent": max(0, min(100, int(fraction * 100 + 1e-9))), "fraction": fraction,
                        "reset_at": reset_at, "reset_time": iso(q.reset_time), "protected": name in protected}
    fetched = stored.fetched_at.timestamp() if stored.fetched_at else None
    return models, fetched, stored.forbidden


def account_json(account: Account, routing: dict[str, Any] | None, stored_quota: QuotaSnapshot | None = None,
                 *, verification_url: str | None = None) -> dict[str, Any]:
    """One account for the admin API. Built field by field from non-secret sources: no token can slip in."""
    models, fetched_at, forbidden = _quota_models(routing, stored_quota, account.protected_models)
    lockouts = list(routing["lockouts"]) if routing is not None else []
    for lock in lockouts:
        lock["until_time"] = epoch(lock["until"])
    flags = _flags(account, lockouts, forbidden)
    in_flight = int(routing["in_flight"]) if routing is not None else 0
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "tier": routing["tier"] if routing is not None else (account.tier or "unknown"),
        "tier_id": routing["tier_id"] if routing is not None else account.tier,
        "status": _status(flags, in_flight),
        "flags": flags,
        "disabled": account.disabled,
        "disabled_reason": account.disabled_reason,
        "disabled_at": iso(account.disabled_at),
        "proxy_disabled": account.proxy_disabled,
        "proxy_disabled_reason": account.proxy_disabled_reason,
        "proxy_disabled_at": iso(account.proxy_disabled_at),
        "verification_url": verification_url,
        "protected_models": sorted(account.protected_models),
        "quota": {"models": models, "fetched_at": fetched_at, "fetched_time": epoch(fetched_at),
                  "forbidden": forbidden},
        "in_flight": in_flight,
        "max_in_flight": routing["max_in_flight"] if routing is not None else None,
        "session_bindings": routing["session_bindings"] if routing is not None else 0,
        "lockouts": lockouts,
        "health": routing["health"] if routing is not None else None,
        "circuit": routing["circuit"] if routing is not None else None,
        "aimd": routing["aimd"] if routing is not None else None,
        "latency_ewma": routing["latency_ewma"] if routing is not None else None,
        "project_id": routing["project_id"] if routing is not None else None,
        "project_is_default": routing["project_is_default"] if routing is not None else None,
        "proxy_url": v.redact_url(account.proxy_url),
        "routed": routing is not None,
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
        "last_used_at": iso(account.last_used_at),
    }


def event_json(event: AccountEvent) -> dict[str, Any]:
    return {"id": event.id, "account_id": event.account_id, "email": event.email, "kind": event.kind,
            "details": dict(event.details), "created_at": iso(event.created_at)}


def _routing_views(services: Services) -> dict[str, dict[str, Any]]:
    views = services.pool.accounts_view(now=trio.current_time(), wall=time.time())
    return {view["id"]: view for view in views}  # type: ignore[misc]


async def _verification_url(services: Services, account: Account) -> str | None:
    if not (account.proxy_disabled and (account.proxy_disabled_reason or "").startswith("verification")):
        return None
    events = await services.repo.events(account_id=account.id, kinds=[EventKind.VERIFICATION_REQUIRED], limit=1)
    url = events[0].details.get("detail_url") if events else None
    return url if isinstance(url, str) and url.startswith("https://") else None


async def _one(services: Services, account_id: str) -> dict[str, Any]:
    account = await services.repo.get_account(account_id)
    view = _routing_views(services).get(account.id)
    quota = None if view is not None else await services.repo.get_quota(account.id)
    return account_json(account, view, quota, verification_url=await _verification_url(services, account))


def _events_page(events: list[AccountEvent], limit: int) -> dict[str, Any]:
    return {"events": [event_json(e) for e in events],
            "next_before": events[-1].id if len(events) == limit else None}


def _parse_patch(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the whole body before any write, so a bad field never leaves half a change behind."""
    only_fields(body, {"name", "disabled", "proxy_disabled", "reason"})
    if not body.keys() - {"reason"}:
        raise BadRequest("nothing to change: give name, disabled and/or proxy_disabled")
    change: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if name is not None and not isinstance(name, str):
            raise BadRequest("name must be a string or null", param="name")
        change["name"] = v.text(name, "name")
    for flag in ("disabled", "proxy_disabled"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise BadRequest(f"{flag} must be true or false", param=flag)
            change[flag] = body[flag]
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > v.MAX_REASON):
        raise BadRequest(f"reason must be a string of at most {v.MAX_REASON} characters", param="reason")
    change["reason"] = v.reason(reason) or DEFAULT_DISABLE_REASON
    return change


def register(router: Router, services: Services) -> None:
    repo = services.repo

    @admin_handler
    async def list_accounts(request: Request) -> Response:
        accounts = await repo.list_accounts()
        views = _routing_views(services)  # pool state is read on the trio thread
        missing = [a.id for a in accounts if a.id not in views]
        quotas = await repo.all_quotas() if missing else {}
        urls = {a.id: await _verification_url(services, a) for a in accounts}

        def render() -> bytes:
            # Pure formatting of data nobody else holds: in a worker thread, so a listing of a thousand accounts
            # (a third of a second of Python) does not stall the proxy traffic on the event loop.
            rows = [account_json(a, views.get(a.id), quotas.get(a.id), verification_url=urls[a.id]) for a in accounts]
            return orjson.dumps({"accounts": rows, "total": len(rows),
                                 "usable": sum(1 for a in accounts if a.serves_traffic)})

        return Response(200, await trio.to_thread.run_sync(render))

    @admin_handler
    async def get_account(request: Request) -> Response:
        return json_response(await _one(services, path_account_id(request)))

    @admin_handler
    async def patch_account(request: Request) -> Response:
        account_id = path_account_id(request)
        change = _parse_patch(json_body(request))
        await repo.get_account(account_id)  # 404 before any write
        if "name" in change:
            await repo.update_account(account_id, name=change["name"])
        if "disabled" in change:
            if change["disabled"]:
                await repo.set_disabled(account_id, change["reason"])
            else:
                await repo.enable(account_id)
        if "proxy_disabled" in change:
            await repo.set_proxy_disabled(account_id, change["proxy_disabled"],
                                          change["reason"] if change["proxy_disabled"] else None)
        await services.registry.reload()  # the pool routes by the new state before we answer
        return json_response(await _one(services, account_id))

    @admin_handler
    async def delete_account(request: Request) -> Response:
        account_id = path_account_id(request)
        account = await repo.get_account(account_id)
        await repo.delete_account(account_id)
        await services.registry.reload()
        return json_response({"deleted": account.id, "email": account.email})

    @admin_handler
    async def account_events(request: Request) -> Response:
        account_id = path_account_id(request)
        limit = query_int(request, "limit", 50, 1, MAX_EVENTS_PAGE)
        before = query_int(request, "before", 0, 0, 2**62) or None
        await repo.get_account(account_id)
        return json_response(_events_page(await repo.events(account_id=account_id, limit=limit, before_id=before),
                                          limit))

    @admin_handler
    async def all_events(request: Request) -> Response:
        limit = query_int(request, "limit", 100, 1, MAX_EVENTS_PAGE)
        before = query_int(request, "before", 0, 0, 2**62) or None
        kinds = [k.strip() for k in (query_text(request, "kind", limit=1024) or "").split(",") if k.strip()]
        known = {str(k) for k in EventKind}
        if unknown := [k for k in kinds if k not in known]:
            raise BadRequest(f"unknown event kind {unknown[0]!r}; known: {', '.join(sorted(known))}", param="kind")
        account_ref = query_text(request, "account", limit=v.MAX_EMAIL)
        account_id = email = None
        if account_ref is not None:
            if v.is_uuid(account_ref):
                account_id = v.account_id(account_ref)
            elif "@" in account_ref:
                email = v.email(account_ref)  # deleted accounts keep their events under the email
            else:
                raise BadRequest("account must be an account id (UUID) or an email", param="account")
        events = await repo.events(account_id=account_id, email=email, kinds=kinds or None, limit=limit,
                                   before_id=before)
        return json_response(_events_page(events, limit))

    router.get("/api/accounts", list_accounts, watch_client=False)
    router.get("/api/accounts/{id}", get_account, watch_client=False)
    router.add("PATCH", "/api/accounts/{id}", patch_account, watch_client=False)
    router.add("DELETE", "/api/accounts/{id}", delete_account, watch_client=False)
    router.get("/api/accounts/{id}/events", account_events, watch_client=False)
    router.get("/api/events", all_events, watch_client=False)
