"""The model catalogue: operator mappings (from the store, shared by every instance) plus the model ids the
accounts report, and name resolution over both.

Mappings are read into memory at start and again whenever the store reports a settings change
(``Repository.watch_settings``), so resolution on the request path is a dictionary lookup.
"""

from __future__ import annotations

import logging

from antigravityd.routing.pool import AccountPool
from antigravityd.store import Repository, StoreUnavailable
from antigravityd.translate.models import ModelCaps, ModelRoute, model_caps, resolve_model
from antigravityd.translate.models_listing import listed_model_ids

__all__ = ["Catalog"]

log = logging.getLogger("antigravityd.catalog")


class Catalog:
    def __init__(self, repo: Repository, pool: AccountPool) -> None:
        self.repo = repo
        self.pool = pool
        self.mappings: dict[str, str] = {}

    async def reload(self) -> None:
        self.mappings = {m.key: m.target for m in await self.repo.mappings() if not m.deleted}

    async def watch(self) -> None:
        """Supervised task: follow mapping changes made anywhere (admin API, CLI, another instance)."""
        async with self.repo.watch_settings() as changes:
            async for _ in changes:
                try:
                    await self.reload()
                except StoreUnavailable as e:
                    log.warning("mapping reload failed, keeping the current table: %s", e)

    def reported(self) -> set[str]:
        """Model ids any usable account reported in its last quota fetch."""
        ids: set[str] = set()
        for _, book in self.pool.quota_books():
            ids.update(book.models)
        return ids

    def resolve(self, name: object) -> ModelRoute:
        """Client model name → upstream route; raises ``UnknownModel`` (a 400 listing known names)."""
        return resolve_model(name, self.mappings, self.reported())

    def listed(self) -> list[str]:
        """Every id a client may ask for: reported ids, defaults, aliases, mapping keys, image-size variants."""
        return listed_model_ids(self.reported(), self.mappings)

    def caps(self, model_id: str) -> ModelCaps:
        return model_caps(model_id)
