"""``/api/mappings``: the operator's model mappings (``from`` → upstream model, ``*`` wildcards allowed), and a
tester that shows how a model name would resolve right now.

Mappings live in the store with last-writer-wins timestamps; a delete writes a tombstone so that it reaches other
instances through the mapping sync (``sync/lww.py``) instead of being undone by them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from antigravityd.api.admin_common import BadRequest, admin_handler, json_body, only_fields, path_text, query_bool
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.store import ModelMapping, NotFound
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models import ModelRoute, resolve_model

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["Resolver", "mapping_json", "register", "store_resolver"]

Resolver = Callable[[str], "ModelRoute"]
MAX_NAME = 256
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")


def mapping_json(m: ModelMapping) -> dict[str, Any]:
    return {"key": m.key, "target": m.target, "updated_at": m.updated_at, "deleted": m.deleted}


def route_json(route: ModelRoute) -> dict[str, Any]:
    image = None
    if route.image is not None:
        image = {"aspect_ratio": route.image.aspect_ratio, "image_size": route.image.image_size}
    return {"requested": route.requested, "upstream": route.upstream, "reason": route.reason,
            "request_type": route.request_type, "family": route.family, "image": image}


def model_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        raise BadRequest(f"{what} must be a model name: 1..{MAX_NAME} characters without spaces", param=what)
    return value.strip()


async def store_resolver(services: Services) -> Resolver:
    """Resolution against the store's current mappings and the models the loaded accounts report."""
    mappings = {m.key: m.target for m in await services.repo.mappings()}
    known: set[str] = set()
    for _, book in services.pool.quota_books():
        known.update(book.models)
    return lambda name: resolve_model(name, mappings, known)


def register(router: Router, services: Services, *, resolver: Callable[[], Resolver] | None = None) -> None:
    """``resolver`` returns the daemon's live resolver (e.g. its model catalogue's ``resolve``); by default the
    tester resolves against the store, which already holds an edit made a moment ago."""
    repo = services.repo

    @admin_handler
    async def list_mappings(request: Request) -> Response:
        rows = await repo.mappings(include_deleted=query_bool(request, "include_deleted"))
        return json_response({"mappings": [mapping_json(m) for m in rows]})

    @admin_handler
    async def put_mapping(request: Request) -> Response:
        key = model_name(path_text(request, "key"), "key")
        body = json_body(request)
        only_fields(body, {"target"})
        target = model_name(body.get("target"), "target")
        if target == key and "*" not in key:
            raise BadRequest("a mapping to itself does nothing", param="target")
        return json_response(mapping_json(await repo.set_mapping(key, target)))

    @admin_handler
    async def delete_mapping(request: Request) -> Response:
        key = path_text(request, "key")
        live = {m.key for m in await repo.mappings()}
        if key not in live:
            raise NotFound(f"no mapping for {key!r}")
        return json_response(mapping_json(await repo.delete_mapping(key)))

    @admin_handler
    async def test_mapping(request: Request) -> Response:
        body = json_body(request)
        only_fields(body, {"model"})
        model = model_name(body.get("model"), "model")
        resolve = resolver() if resolver is not None else await store_resolver(services)
        try:
            route = resolve(model)
        except ClientError as e:
            return json_response({"model": model, "resolved": False, "error": e.message})
        return json_response({"model": model, "resolved": True, **route_json(route)})

    router.get("/api/mappings", list_mappings, watch_client=False)
    router.post("/api/mappings/test", test_mapping, watch_client=False)
    router.add("PUT", "/api/mappings/{key}", put_mapping, watch_client=False)
    router.add("DELETE", "/api/mappings/{key}", delete_mapping, watch_client=False)
