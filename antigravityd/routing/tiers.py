"""Subscription tiers and their routing priority.

Google reports an account's tier as an opaque id from ``loadCodeAssist`` (``paidTier.id``, else
``currentTier.id``): ``ws-ai-ultra-business-tier``, ``g1-ultra-tier``, ``g1-pro-tier``, ``free-tier`` … The
ids change with every product rename, so we classify by substring, most specific first — ``ultra-business``
must be tested before ``ultra`` because the former contains the latter.

Lower priority numbers are tried first: paid capacity is larger and its quota resets sooner, so spending it first
keeps free accounts in reserve.
"""

from __future__ import annotations

import enum

__all__ = ["Tier", "tier_from_id"]


class Tier(enum.IntEnum):
    """Routing priority: the value is the sort key (0 = tried first)."""

    ULTRA_BUSINESS = 0
    ULTRA = 1
    PRO = 2
    FREE = 3
    UNKNOWN = 4

    @property
    def is_ultra(self) -> bool:
        """Ultra tiers override sticky sessions (their capacity is worth more than prompt-cache affinity)."""
        return self <= Tier.ULTRA

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


# Checked in this order; the first substring found wins.
_RULES: tuple[tuple[str, Tier], ...] = (
    ("ultra-business", Tier.ULTRA_BUSINESS),
    ("ultra", Tier.ULTRA),
    ("pro", Tier.PRO),
    ("free", Tier.FREE),
)


def tier_from_id(tier_id: str | None) -> Tier:
    """Classify an upstream tier id (case-insensitive); ``None``, empty or unrecognised ids are UNKNOWN."""
    if not tier_id:
        return Tier.UNKNOWN
    lowered = tier_id.lower()
    for needle, tier in _RULES:
        if needle in lowered:
            return tier
    return Tier.UNKNOWN
