"""Every client-facing route, in one table of contents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from antigravityd.http.router import Router

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["register"]


def register(router: Router, services: Services) -> None:
    """Register the dialect APIs and the admin API on ``router``."""
    from antigravityd.api import anthropic, gemini, models, openai_chat

    models.register(router, services.catalog)
    openai_chat.register(router, services, services.signatures)
    gemini.register(router, services, services.signatures)
    anthropic.register(router, services)
