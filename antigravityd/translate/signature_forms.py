"""The two text forms of a Claude thinking signature (upstream-protocol §3.3, §9.1).

Anthropic's own signature (what an Anthropic client knows) is base64 of a binary token — the **E-form** (it starts
with ``E`` because the token starts with byte 0x12). Cloud Code hands Claude signatures out base64-encoded once
more — the **R-form** — and is known to accept that form back. Gemini signatures are E-form-looking base64 and are
never re-encoded.

So: upstream → Anthropic client, a Claude signature is decoded once (R → E); client → upstream, a signature for a
Claude target is encoded once (E → R), unless it already is R-form. Signatures are remembered in the cache in the
upstream form, so lookups work whatever form the client returned.
"""

from __future__ import annotations

import base64
import binascii
import re

from antigravityd.translate.signature_cache import SignatureCache

__all__ = ["is_r_form", "to_client_form", "to_upstream_form"]

_BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/=_-]+$")


def _decode(signature: str) -> bytes | None:
    try:
        return base64.b64decode(signature + "=" * (-len(signature) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None


def is_r_form(signature: str) -> bool:
    """Whether ``signature`` is base64 of base64 text (the doubly encoded form)."""
    decoded = _decode(signature)
    return bool(decoded) and len(decoded) >= 8 and _BASE64_TEXT.match(decoded) is not None  # type: ignore[arg-type]


def to_client_form(signature: str, family: str) -> str:
    """What an Anthropic client should see: Claude R-form decoded to the native E-form; others unchanged."""
    if family == "claude" and is_r_form(signature):
        return _decode(signature).decode("ascii")  # type: ignore[union-attr]
    return signature


def to_upstream_form(signature: str, target_family: str, cache: SignatureCache) -> str:
    """The form to replay upstream. A signature the cache knows (in either form) keeps the form the cache knows,
    so foreign-family detection works; an unknown E-form signature for a Claude target is encoded to R-form."""
    if cache.family_of(signature) is not None:
        return signature
    if is_r_form(signature):
        return signature
    encoded = base64.b64encode(signature.encode("ascii", "replace")).decode("ascii")
    if cache.family_of(encoded) is not None or target_family == "claude":
        return encoded
    return signature
