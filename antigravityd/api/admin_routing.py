"""Routing state: ``/api/resilience/health|circuits|aimd``, clearing lockouts and sticky-session bindings.

These read and change this instance's in-memory pool (lockouts, circuits, AIMD and bindings are runtime state,
not stored), so with several instances each one answers for itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import trio

from antigravityd.api.admin_common import admin_handler, path_account_id
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]

HEALTHY_SCORE = 0.5


def _lock_count(services: Services, account_id: str | None = None) -> int:
    views = services.pool.accounts_view(now=trio.current_time(), wall=time.time())
    return sum(len(v["lockouts"]) for v in views if account_id is None or v["id"] == account_id)  # type: ignore[arg-type]


def register(router: Router, services: Services) -> None:
    pool = services.pool

    @admin_handler
    async def health(request: Request) -> Response:
        now = trio.current_time()
        rows: list[dict[str, Any]] = pool.health_view(now=now)
        circuits = {c["id"]: c["state"] for c in pool.circuits_view(now=now)}
        usable = disabled = healthy = 0
        for row in rows:
            st = pool.get(str(row["id"]))
            row["usable"] = bool(st is not None and st.usable)
            row["circuit"] = circuits.get(row["id"])
            row["healthy"] = row["usable"] and row["score"] >= HEALTHY_SCORE and row["circuit"] != "open"
            usable += row["usable"]
            disabled += not row["usable"]
            healthy += row["healthy"]
        return json_response({"healthy_accounts": healthy, "usable_accounts": usable, "disabled_accounts": disabled,
                              "overall_healthy": healthy > 0, "healthy_score": HEALTHY_SCORE, "accounts": rows})

    @admin_handler
    async def circuits(request: Request) -> Response:
        rows = pool.circuits_view(now=trio.current_time())
        counts = {state: sum(1 for r in rows if r["state"] == state) for state in ("closed", "open", "half_open")}
        return json_response({"counts": counts, "accounts": rows})

    @admin_handler
    async def aimd(request: Request) -> Response:
        rows = pool.aimd_view(now=trio.current_time())
        return json_response({"tracked_accounts": len(rows), "max_usage_ratio": pool.settings.aimd_max_usage_ratio,
                              "skipped_accounts": sum(1 for r in rows if r["skipped"]), "accounts": rows})

    @admin_handler
    async def clear_all_lockouts(request: Request) -> Response:
        cleared = _lock_count(services)
        pool.clear_lockouts()
        return json_response({"cleared": cleared})

    @admin_handler
    async def clear_account_lockouts(request: Request) -> Response:
        account_id = path_account_id(request)
        if account_id not in pool:
            await services.repo.get_account(account_id)  # unknown → 404; known but not routed → nothing to clear
            return json_response({"cleared": 0, "account_id": account_id})
        cleared = _lock_count(services, account_id)
        pool.clear_lockouts(account_id)
        return json_response({"cleared": cleared, "account_id": account_id})

    @admin_handler
    async def clear_bindings(request: Request) -> Response:
        return json_response({"cleared": pool.clear_bindings()})

    router.get("/api/resilience/health", health, watch_client=False)
    router.get("/api/resilience/circuits", circuits, watch_client=False)
    router.get("/api/resilience/aimd", aimd, watch_client=False)
    router.add("DELETE", "/api/proxy/rate-limits", clear_all_lockouts, watch_client=False)
    router.add("DELETE", "/api/proxy/rate-limits/{id}", clear_account_lockouts, watch_client=False)
    router.post("/api/proxy/clear-bindings", clear_bindings, watch_client=False)
