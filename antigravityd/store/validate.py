"""Input checks and scrubbing shared by both backends. Pure functions; a bad value raises ValidationError."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from antigravityd.store.errors import ValidationError
from antigravityd.store.models import ModelQuota, QuotaSnapshot, RequestRecord

__all__ = [
    "MAX_MODELS",
    "account_id",
    "email",
    "model_names",
    "proxy_url",
    "quota",
    "reason",
    "redact_url",
    "request_record",
    "scrub",
    "text",
    "token",
]

MAX_REASON = 800  # the seed's limit for disable reasons
MAX_NAME = 256
MAX_MODELS = 100
MAX_TOKEN = 8192
MAX_EMAIL = 320
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")

# Google OAuth material that must never end up in a reason or an event: access tokens (ya29.…), refresh
# tokens (1//…), and anything written as "Bearer <x>".
_SECRET = re.compile(r"ya29\.[\w.\-]+|1//[\w.\-]+|(?i:bearer)\s+[\w.\-~+/]+=*")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def account_id(value: object) -> str:
    """A canonical lower-case UUID string. Malformed input is a ValidationError, never NotFound."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # the common case, without the cost of parsing
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"account id must be a UUID string, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValidationError(f"malformed account id {value[:64]!r}: expected a UUID") from None


def is_uuid(value: object) -> bool:
    try:
        account_id(value)
    except ValidationError:
        return False
    return True


def email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()) or len(value.strip()) > MAX_EMAIL:
        shown = value[:80] if isinstance(value, str) else type(value).__name__
        raise ValidationError(f"not an email address: {shown!r}")
    return value.strip().lower()


def token(value: object, what: str = "refresh token") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is missing or empty")
    value = value.strip()
    if len(value) > MAX_TOKEN or any(c.isspace() for c in value):
        raise ValidationError(f"{what} is not a token (too long or contains whitespace)")
    return value


def text(value: object, what: str, limit: int = MAX_NAME) -> str | None:
    """An optional short string; empty becomes None, too long is an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{what} is longer than {limit} characters")
    return value or None


def scrub(value: str) -> str:
    """Remove anything that looks like an OAuth token or bearer credential from free text."""
    return _SECRET.sub("[redacted]", value)


def reason(value: object) -> str | None:
    """A disable reason: scrubbed of secrets and cut to 800 characters (upstream error texts can be long)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("reason must be a string")
    return scrub(value.strip())[:MAX_REASON] or None


def model_names(values: Iterable[object]) -> frozenset[str]:
    names = set()
    for v in values:
        if not isinstance(v, str) or not v.strip() or len(v) > MAX_NAME:
            raise ValidationError(f"bad model name {str(v)[:64]!r}")
        names.add(v.strip())
    if len(names) > MAX_MODELS:
        raise ValidationError(f"more than {MAX_MODELS} models")
    return frozenset(names)


def proxy_url(value: object) -> str | None:
    """Empty clears the proxy. Otherwise scheme://host:port with a scheme our HTTP client supports."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise ValidationError("proxy URL must be a string of at most 2048 characters")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValidationError("proxy URL is malformed") from None
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValidationError(f"proxy URL must be one of {', '.join(s + '://' for s in PROXY_SCHEMES)} with a host")
    del port
    return value.strip()


def redact_url(value: str | None) -> str | None:
    """scheme://host:port only, so a proxy password never reaches an event, a log line or CLI output."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "[unparseable]"
    if parts.username or parts.password:
        netloc = "***@" + netloc
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def aware(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime")
    if value.tzinfo is None:
        raise ValidationError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


def quota(snapshot: QuotaSnapshot, now: datetime) -> QuotaSnapshot:
    if len(snapshot.models) > MAX_MODELS:
        raise ValidationError(f"quota lists more than {MAX_MODELS} models")
    models = {}
    for name, q in snapshot.models.items():
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise ValidationError(f"bad model name {str(name)[:64]!r} in quota")
        frac = q.remaining_fraction
        if frac is not None and not (isinstance(frac, int | float) and 0.0 <= frac <= 1.0):
            raise ValidationError(f"remaining_fraction of {name} must be within 0..1")
        models[name] = ModelQuota(None if frac is None else float(frac), aware(q.reset_time, "reset_time"))
    return QuotaSnapshot(
        models=models,
        forbidden=bool(snapshot.forbidden),
        tier=text(snapshot.tier, "tier"),
        fetched_at=aware(snapshot.fetched_at, "fetched_at") or now,
    )


def _count(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value < 2**31:  # stored as 32-bit integers
        raise ValidationError(f"{what} must be a non-negative integer below 2^31")
    return value


def request_record(row: RequestRecord) -> RequestRecord:
    """Normalise one request-log row: path without query string, bounded strings, sane counters.

    Raising here drops one row (the recorder counts it); it never poisons a batch.
    """
    if _already_clean(row):
        return row
    if not isinstance(row.request_id, str) or not row.request_id or len(row.request_id) > 128:
        raise ValidationError("request_id must be a non-empty string of at most 128 characters")
    if not isinstance(row.ts, datetime):
        raise ValidationError("ts must be a datetime")
    status = _count(row.status, "status")
    if status > 999:
        raise ValidationError("status must be an HTTP status code")
    for name in ("tokens_in", "tokens_out", "tokens_cached", "tokens_thinking", "latency_ms"):
        _count(getattr(row, name), name)
    if row.ttfb_ms is not None:
        _count(row.ttfb_ms, "ttfb_ms")
    ts = row.ts if row.ts.tzinfo is UTC else aware(row.ts, "ts").replace(tzinfo=UTC)
    normalised = {
        "dialect": _clip(row.dialect, 32) or "unknown",
        "path": _clip((row.path or "/").split("?", 1)[0].split("#", 1)[0], 512) or "/",
        "requested_model": _clip(row.requested_model, MAX_NAME),
        "mapped_model": _clip(row.mapped_model, MAX_NAME),
        "account_id": None if row.account_id is None else account_id(row.account_id),
        "account_email": _clip(row.account_email, MAX_EMAIL),
        "error_class": _clip(row.error_class, 64),
        "stream": bool(row.stream),
    }
    # Most rows are already clean: hand back the same object rather than building a copy (hot path).
    changed = {k: val for k, val in normalised.items() if val is not getattr(row, k) and val != getattr(row, k)}
    if ts is not row.ts:
        changed["ts"] = ts  # the same instant, but in UTC
    return dataclasses.replace(row, **changed) if changed else row


_COUNTER = 2**31


def _clean_text(value: object, limit: int) -> bool:
    return value is None or (type(value) is str and 0 < len(value) <= limit and not value[0].isspace()
                             and not value[-1].isspace())


def _already_clean(r: RequestRecord) -> bool:
    """The hot path: a row the pipeline built correctly passes these checks and is returned untouched."""
    return (
        type(r.request_id) is str and 0 < len(r.request_id) <= 128
        and type(r.ts) is datetime and r.ts.tzinfo is UTC
        and type(r.status) is int and 0 <= r.status <= 999
        and type(r.tokens_in) is int and 0 <= r.tokens_in < _COUNTER
        and type(r.tokens_out) is int and 0 <= r.tokens_out < _COUNTER
        and type(r.tokens_cached) is int and 0 <= r.tokens_cached < _COUNTER
        and type(r.tokens_thinking) is int and 0 <= r.tokens_thinking < _COUNTER
        and type(r.latency_ms) is int and 0 <= r.latency_ms < _COUNTER
        and (r.ttfb_ms is None or (type(r.ttfb_ms) is int and 0 <= r.ttfb_ms < _COUNTER))
        and type(r.stream) is bool
        and r.dialect is not None and _clean_text(r.dialect, 32)
        and type(r.path) is str and r.path.startswith("/") and "?" not in r.path and "#" not in r.path
        and _clean_text(r.path, 512)
        and _clean_text(r.requested_model, MAX_NAME) and _clean_text(r.mapped_model, MAX_NAME)
        and _clean_text(r.account_email, MAX_EMAIL) and _clean_text(r.error_class, 64)
        and (r.account_id is None or (type(r.account_id) is str and _CANONICAL_UUID.fullmatch(r.account_id)))
    )


def _clip(value: object, limit: int) -> str | None:
    """Client-controlled strings (model names, paths) are cut rather than rejected: the row still counts."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("request-log fields must be strings")
    if 0 < len(value) <= limit and not value[0].isspace() and not value[-1].isspace():
        return value
    return value.strip()[:limit] or None
