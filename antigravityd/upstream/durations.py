"""The time formats Cloud Code errors and catalogues use (upstream-protocol.md §4.1, §4.9, §6.3).

* ``RetryInfo.retryDelay`` is a protobuf ``Duration`` in JSON: decimal seconds and an ``s`` (``"0.634846608s"``).
* ``ErrorInfo.metadata.quotaResetDelay`` is a **Go** duration (``"634.846608ms"``, ``"161h39m41.300432511s"``).
* ``quotaResetTimeStamp`` / ``resetTime`` are RFC 3339 timestamps.
* ``Retry-After`` is delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

Every parser returns ``None`` for text it does not understand: a malformed hint must never break error handling.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re

__all__ = ["parse_go_duration", "parse_proto_duration", "parse_retry_after", "parse_rfc3339"]

# Go's time.ParseDuration: an optional sign, then one or more <decimal><unit> with units ns us µs μs ms s m h.
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_TOKEN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_GO_WHOLE = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", re.ASCII)
_PROTO = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))", re.ASCII
)
_DIGITS = re.compile(r"[0-9]{1,12}")
_MAX_SECONDS = 10 * 365 * 86400.0  # anything longer is nonsense, not a schedule


def parse_go_duration(text: object) -> float | None:
    """Seconds in a Go duration string, e.g. ``"1h2m3.5s"`` → 3723.5; ``"0"`` → 0.0; negative → None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _GO_WHOLE.fullmatch(text):
        return None
    if text.startswith("-"):
        return None  # a delay in the past carries no information
    total = sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_TOKEN.findall(text))
    return total if math.isfinite(total) and total <= _MAX_SECONDS else None


def parse_proto_duration(text: object) -> float | None:
    """Seconds in a protobuf Duration JSON string (``"40s"``, ``"0.634846608s"``); negative → None."""
    if not isinstance(text, str):
        return None
    match = _PROTO.fullmatch(text.strip())
    if match is None or match.group(1):
        return None
    seconds = int(match.group(2)) + (int(match.group(3).ljust(9, "0")) / 1e9 if match.group(3) else 0.0)
    return seconds if seconds <= _MAX_SECONDS else None


def parse_rfc3339(text: object) -> dt.datetime | None:
    """An aware UTC datetime from an RFC 3339 timestamp (``Z`` or an offset; any number of fraction digits)."""
    if not isinstance(text, str):
        return None
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
    if match.group(8):
        tz = dt.UTC
    else:
        sign = -1 if match.group(9) == "-" else 1
        offset = dt.timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        tz = dt.timezone(sign * offset)
    leap = second == 60  # RFC 3339 allows a leap second; datetime does not
    try:
        value = dt.datetime(year, month, day, hour, minute, 59 if leap else second, micros, tzinfo=tz)
    except ValueError:
        return None
    if leap:
        value += dt.timedelta(seconds=1)
    return value.astimezone(dt.UTC)


def parse_retry_after(value: object, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds, or an HTTP-date relative to ``now`` (epoch)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        seconds = float(int(value))
        return seconds if seconds <= _MAX_SECONDS else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delay = when.timestamp() - now
    return max(0.0, delay) if delay <= _MAX_SECONDS else None
