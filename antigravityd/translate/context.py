"""What a translator needs to know besides the client's body: ids, the session, the signature cache, the time."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from antigravityd.translate.models import ModelCaps, ModelRoute, model_caps
from antigravityd.translate.schema import SchemaCache, clean_response_schema, clean_tool_schema
from antigravityd.translate.signature_cache import NullSignatureCache, SignatureCache

__all__ = ["TranslateContext", "random_id"]

_ALNUM = string.ascii_letters + string.digits


def random_id(prefix: str, length: int = 24) -> str:
    """``prefix`` + ``length`` random alphanumerics, e.g. ``call_`` ids (OpenAI's own shape)."""
    # One read of system randomness per id: secrets.choice makes a getrandom() call per character (~25 system
    # calls per Anthropic stream). 8 random bits per base-62 digit leave the digits uniform to within
    # (62/256)**length.
    n = int.from_bytes(secrets.token_bytes(length))
    digits = []
    for _ in range(length):
        n, digit = divmod(n, 62)
        digits.append(_ALNUM[digit])
    return prefix + "".join(digits)


@dataclass(frozen=True, slots=True)
class TranslateContext:
    """Per-request inputs of the request translators. The pipeline builds one per client request.

    ``now`` is the request's wall-clock time in seconds (translators never read a clock). ``model_info`` is the
    account's ``fetchAvailableModels`` entry for the upstream model when known (refines :func:`model_caps`).
    ``new_id`` makes the ids we invent (tool calls without upstream ids); tests inject a deterministic one.
    ``schemas`` is the process's :class:`SchemaCache` (None: clean every schema afresh).
    """

    request_id: str
    session_id: str
    signatures: SignatureCache = field(default_factory=NullSignatureCache)
    project: str | None = None
    now: float = 0.0
    inject_identity: bool = True
    tool_loop_recovery: bool = True
    model_info: Mapping[str, Any] | None = None
    new_id: Callable[[str], str] = random_id
    schemas: SchemaCache | None = None

    def caps(self, route: ModelRoute) -> ModelCaps:
        return model_caps(route.upstream, self.model_info)

    def clean_tool_schema(self, schema: object) -> dict[str, Any]:
        return self.schemas.clean_tool_schema(schema) if self.schemas else clean_tool_schema(schema)

    def clean_response_schema(self, schema: object) -> dict[str, Any]:
        return self.schemas.clean_response_schema(schema) if self.schemas else clean_response_schema(schema)
