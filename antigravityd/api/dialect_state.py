"""Per-process state the dialect endpoints share: the thought-signature cache and the tool-schema cache.

One of each per daemon (created with the services), so a signature issued on ``/v1/messages`` is found by
``/v1/responses`` and a tool list cleaned for one request is reused by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from antigravityd.pipeline.signatures import StoredSignatureCache
from antigravityd.translate.schema import SchemaCache

if TYPE_CHECKING:
    from antigravityd.services import Services

__all__ = ["DialectState"]


@dataclass(frozen=True, slots=True)
class DialectState:
    signatures: StoredSignatureCache
    schemas: SchemaCache

    @classmethod
    def for_services(cls, services: Services) -> DialectState:
        return cls(services.signatures, services.schemas)
