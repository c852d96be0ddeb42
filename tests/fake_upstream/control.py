"""``/_fake/…``: drive a fake running in another process (demos, benchmarks, CLI tests) over HTTP.

=========================  ==================================================================================
``GET  /_fake/stats``      counters (requests per account/rpc, peak concurrency, disconnects, faults fired)
``POST /_fake/stats/reset``
``GET  /_fake/accounts``   ``[{email, refresh_token, access_token, tier, project, models}]``
``POST /_fake/accounts``   ``{email, refresh_token?, tier?, project?, paid_tier?, models?, onboard_polls?,
                           rotate_refresh_every?, quota_limit?}`` → the account (``project: null`` = not onboarded)
``GET  /_fake/faults``     active faults
``POST /_fake/faults``     ``{kind, account?, model?, rpcs?, times?, params?}`` → ``{id, ...}``
``DELETE /_fake/faults``   clear all (``/_fake/faults/<id>`` clears one)
``POST /_fake/revoke``     ``{refresh_token}`` → later refreshes get ``invalid_grant``
``POST /_fake/expire``     ``{email?}`` expire access tokens (all when no email)
``POST /_fake/quota``      ``{email, model, remaining_fraction?, reset_in?, limit?}``
``GET/POST /_fake/strict`` read / change :class:`~.settings.Strictness` switches
``GET/POST /_fake/behaviour`` read / change :class:`~.settings.Behaviour` options
``GET  /_fake/requests``   recorded requests, ``?rpc=…&limit=N`` (newest last)
=========================  ==================================================================================
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson

from .faults import Fault, FaultKind
from .settings import apply_changes
from .state import AUTO

if TYPE_CHECKING:
    from .app import FakeUpstream
    from .httpserver import Request, Response


class ControlError(Exception):
    pass


async def handle(fake: FakeUpstream, req: Request, resp: Response) -> None:
    try:
        body = orjson.loads(req.body) if req.body else {}
        status, out = route(fake, req.method, req.path.removeprefix("/_fake"), req.query, body)
    except (ControlError, KeyError, ValueError, TypeError) as e:
        status, out = 400, {"error": f"{type(e).__name__}: {e}"}
    await fake.send_json(resp, status, out)


def route(fake: FakeUpstream, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    state = fake.state
    if path == "/stats" and method == "GET":
        return 200, fake.stats.snapshot()
    if path == "/stats/reset" and method == "POST":
        fake.stats.reset()
        return 200, {}
    if path == "/accounts" and method == "GET":
        return 200, [a.to_json() for a in state.accounts.values()]
    if path == "/accounts" and method == "POST":
        kw = {k: body[k] for k in ("refresh_token", "tier", "paid_tier", "models", "onboard_polls",
                                   "rotate_refresh_every", "quota_limit", "credits", "name") if k in body}
        kw["project"] = body.get("project", AUTO)
        return 200, fake.add_account(body["email"], **kw).to_json()
    if path == "/faults" and method == "GET":
        return 200, [f.to_json() for f in fake.faults.active]
    if path == "/faults" and method == "POST":
        fault = fake.inject(FaultKind(body["kind"]), account=body.get("account"), model=body.get("model"),
                            rpcs=body.get("rpcs"), times=body.get("times", 1), **(body.get("params") or {}))
        return 200, fault.to_json()
    if path == "/faults" and method == "DELETE":
        fake.clear_faults()
        return 200, {}
    if path.startswith("/faults/") and method == "DELETE":
        fake.faults.clear(int(path.rsplit("/", 1)[1]))
        return 200, {}
    if path == "/revoke" and method == "POST":
        fake.revoke(body["refresh_token"])
        return 200, {}
    if path == "/expire" and method == "POST":
        fake.expire_access_tokens(body.get("email"))
        return 200, {}
    if path == "/quota" and method == "POST":
        q = fake.set_quota(body["email"], body["model"], remaining_fraction=body.get("remaining_fraction"),
                           reset_in=body.get("reset_in"), limit=body.get("limit"))
        return 200, {"limit": q.limit, "used": q.used, "reset_at": q.reset_at}
    if path in ("/strict", "/behaviour"):
        target = fake.strict if path == "/strict" else fake.behaviour
        if method == "POST" and (unknown := apply_changes(target, body)):
            raise ControlError(f"unknown switches: {', '.join(unknown)}")
        return 200, dataclasses.asdict(target)
    if path == "/requests" and method == "GET":
        rpc = query.get("rpc")
        items = [r for r in fake.stats.recorded if rpc is None or r.rpc == rpc]
        limit = int(query.get("limit", "100"))
        return 200, [dataclasses.asdict(r) for r in items[-limit:]]
    return 404, {"error": f"no control route {method} {path}"}


__all__ = ["Fault", "handle"]
