"""Every client-facing route, in one table of contents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from antigravityd.http.router import Router

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]


def register(router: Router, services: Services) -> None:
    """Register the dialect APIs and the admin API on ``router``."""
    from antigravityd.api import accounts_lifecycle, admin, anthropic, gemini, models, openai_chat, responses
    from antigravityd.api.dialect_state import DialectState

    config = services.config
    admin.register(router, services, sync=services.mapping_sync)
    accounts_lifecycle.register(router, services.lifecycle, redirect_base=config.oauth.redirect_base,
                                fallback_base=accounts_lifecycle.local_base(config.server.bind, config.server.port))
    models.register(router, services.catalog)
    dialects = DialectState.for_services(services)  # one signature cache and schema cache for every dialect
    openai_chat.register(router, services, dialects.signatures)
    gemini.register(router, services, dialects.signatures)
    anthropic.register(router, services, dialects)
    responses.register(router, services, dialects)
