"""Model listing in each dialect's shape.

``GET /v1/models`` is shared by three SDKs: the OpenAI SDK (``Authorization: Bearer``), the Anthropic SDK (sends
``anthropic-version``) and google-genai (sends ``x-goog-api-key``/``x-goog-api-client``, and uses ``/v1``). The
request's headers say which shape to answer with. ``GET /v1beta/models[/{m}]`` is always Gemini.
"""

from __future__ import annotations

from antigravityd.api.errors import Dialect, error_response
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router
from antigravityd.pipeline.catalog import Catalog
from antigravityd.translate.errors import ClientError
from antigravityd.translate.models_listing import gemini_model, gemini_models, openai_model, openai_models

__all__ = ["register"]

CREATED_RFC3339 = "2024-02-01T00:00:00Z"  # LISTING_CREATED as a date, for the Anthropic shape


def _dialect(request: Request) -> Dialect:
    if "anthropic-version" in request.headers:
        return Dialect.ANTHROPIC
    if "x-goog-api-key" in request.headers or "x-goog-api-client" in request.headers or "key=" in request.query_string:
        return Dialect.GEMINI
    return Dialect.OPENAI


def register(router: Router, catalog: Catalog) -> None:
    def listing(dialect: Dialect) -> Response:
        ids = catalog.listed()
        if dialect is Dialect.GEMINI:
            return json_response(gemini_models((m, catalog.caps(catalog.resolve(m).upstream)) for m in ids))
        if dialect is Dialect.ANTHROPIC:
            data = [{"type": "model", "id": m, "display_name": m, "created_at": CREATED_RFC3339} for m in ids]
            return json_response({"data": data, "has_more": False, "first_id": ids[0] if ids else None,
                                  "last_id": ids[-1] if ids else None})
        return json_response(openai_models(ids))

    def one(dialect: Dialect, name: str) -> Response:
        name = name.removeprefix("models/")
        try:
            upstream = catalog.resolve(name).upstream
        except ClientError:
            return error_response(dialect, 404, f"model {name} not found")
        if dialect is Dialect.GEMINI:
            return json_response(gemini_model(name, catalog.caps(upstream)))
        if dialect is Dialect.ANTHROPIC:
            return json_response({"type": "model", "id": name, "display_name": name, "created_at": CREATED_RFC3339})
        return json_response(openai_model(name))

    async def list_models(request: Request) -> Response:
        return listing(_dialect(request))

    async def list_gemini(request: Request) -> Response:
        return listing(Dialect.GEMINI)

    async def get_model(request: Request) -> Response:
        return one(_dialect(request), request.route_params["model"])

    async def get_gemini(request: Request) -> Response:
        return one(Dialect.GEMINI, request.route_params["model"])

    router.get("/v1/models", list_models, watch_client=False)
    router.get("/v1/models/claude", list_models, watch_client=False)
    router.get("/v1/models/{model}", get_model, watch_client=False)
    router.get("/v1beta/models", list_gemini, watch_client=False)
    router.get("/v1beta/models/{model}", get_gemini, watch_client=False)
