"""The mapping-sync wire format and the pure halves of a sync round. No I/O.

The format is the seed's ``SyncableMapping``, so an instance of the seed can still talk to us::

    {"entries": {"<model>": {"target": "<upstream model>", "updated_at": <epoch ms>, "deleted": false}, ...},
     "instance_id": "<hostname>-<pid>"}

``GET /api/config/mapping`` answers with it (tombstones included: that is how deletes travel), ``POST
/api/config/mapping`` takes ``{"mapping": <it>}``. Unlike the seed, timestamps are the stored ones — an instance
never claims "now" for an entry it merely still has after a restart — and a tombstone is a tombstone on both sides
(the seed's server wrote it as a mapping to ``""``).

Entries stamped more than a day in the future are dropped and counted as rejected: one instance with a wrong clock
must not win every conflict for the rest of time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from antigravityd.store import ModelMapping

__all__ = ["MAX_ENTRIES", "MAX_FUTURE_MS", "WireError", "decode", "encode", "outbound"]

MAX_ENTRIES = 10_000
MAX_FUTURE_MS = 24 * 3600 * 1000
MAX_NAME = 256


class WireError(ValueError):
    """The payload is not a mapping document we can merge (the other side's fault)."""


def encode(entries: Iterable[ModelMapping], instance_id: str) -> dict[str, Any]:
    return {
        "entries": {m.key: {"target": m.target, "updated_at": m.updated_at, "deleted": m.deleted} for m in entries},
        "instance_id": instance_id,
    }


def _entry(key: object, raw: object) -> ModelMapping | None:
    """One entry, or None when it is malformed (dropped and counted, never poisoning the whole document)."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_NAME or not isinstance(raw, Mapping):
        return None
    updated_at, deleted, target = raw.get("updated_at"), raw.get("deleted", False), raw.get("target", "")
    if not isinstance(updated_at, int) or isinstance(updated_at, bool) or not 0 <= updated_at < 2**53:
        return None
    if not isinstance(deleted, bool) or not isinstance(target, str) or len(target) > MAX_NAME:
        return None
    if not deleted and not target.strip():
        return None  # a live mapping to nothing is how the seed wrote tombstones; not ours to invent
    return ModelMapping(key.strip(), "" if deleted else target.strip(), updated_at, deleted)


def decode(document: object, *, now_ms: int, max_entries: int = MAX_ENTRIES) -> tuple[list[ModelMapping], int, str]:
    """``(entries, rejected, instance_id)`` from a ``SyncableMapping`` document. Raises WireError when it is not
    one at all; drops (and counts) single bad entries and entries too far in the future."""
    if not isinstance(document, Mapping) or not isinstance(document.get("entries"), Mapping):
        raise WireError("expected an object with an 'entries' object")
    raw_entries: Mapping[object, object] = document["entries"]
    if len(raw_entries) > max_entries:
        raise WireError(f"more than {max_entries} entries")
    instance = document.get("instance_id")
    instance_id = instance if isinstance(instance, str) else ""
    entries, rejected = [], 0
    for key, raw in raw_entries.items():
        entry = _entry(key, raw)
        if entry is None or entry.updated_at > now_ms + MAX_FUTURE_MS:
            rejected += 1
            continue
        entries.append(entry)
    return entries, rejected, instance_id[:200]


def outbound(local: Iterable[ModelMapping], remote: Iterable[ModelMapping]) -> list[ModelMapping]:
    """The local entries the remote lacks or holds an older version of (they would win an LWW merge there)."""
    theirs = {m.key: m for m in remote}
    return [m for m in local if m.beats(theirs.get(m.key))]
