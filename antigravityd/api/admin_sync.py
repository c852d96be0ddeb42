"""``GET/POST /api/config/mapping``: this instance's side of the LWW mapping sync (``sync/lww.py`` is the other).

``GET`` returns every entry including tombstones (``?since=<epoch ms>`` limits it to entries stamped later — for
scripts; the sync task itself always pulls everything, see ``sync/lww.py`` for why). ``POST {"mapping": ...}``
merges the given entries last-writer-wins and answers ``{"updated_count", "total_count", "rejected_count"}``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from antigravityd.api.admin_common import BadRequest, admin_handler, json_body, only_fields, query_int
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.sync.lww import default_instance_id
from antigravityd.sync.wire import MAX_ENTRIES, WireError, decode, encode

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]


def register(router: Router, services: Services, *, instance_id: str | None = None) -> None:
    repo = services.repo
    me = instance_id or default_instance_id()

    @admin_handler
    async def get_mapping(request: Request) -> Response:
        since = query_int(request, "since", -1, -1, 2**53) if request.query.get("since") else None
        entries = await repo.mappings(since=since, include_deleted=True)
        if len(entries) > MAX_ENTRIES:
            entries = sorted(entries, key=lambda m: m.updated_at)[-MAX_ENTRIES:]  # newest win; the rest next time
        document = encode(entries, me)
        document["now"] = int(time.time() * 1000)
        return json_response(document)

    @admin_handler
    async def post_mapping(request: Request) -> Response:
        body = json_body(request, max_bytes=4 * 1024 * 1024)
        only_fields(body, {"mapping"})
        try:
            entries, rejected, _ = decode(body.get("mapping"), now_ms=int(time.time() * 1000))
        except WireError as e:
            raise BadRequest(f"mapping: {e}", param="mapping") from None
        applied = await repo.merge_mappings(entries)
        total = len(await repo.mappings())
        return json_response({"updated_count": len(applied), "total_count": total, "rejected_count": rejected})

    router.get("/api/config/mapping", get_mapping, watch_client=False)
    router.post("/api/config/mapping", post_mapping, watch_client=False)
