"""What every admin endpoint shares: JSON errors, strict parsing of query strings, path ids and bodies, and the
translation of store errors into HTTP statuses.

Admin errors use the same JSON shape as the gateway's own 401/404 answers for ``/api/*`` (OpenAI-style
``{"error": {"message", "type", "param", "code"}}``), so the web UI and scripts read one format. The split follows
the store's (``store/errors.py``): malformed input is the caller's fault (400), a well-formed reference to nothing
is 404, a uniqueness clash 409, and an unreachable database 503 with ``Retry-After`` — never a bare 500.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson

from antigravityd.api.errors import Dialect, error_response
from antigravityd.http.message import Request, Response
from antigravityd.store import validate
from antigravityd.store.errors import Conflict, NotFound, StoreUnavailable, ValidationError

__all__ = [
    "MAX_ADMIN_BODY",
    "BadRequest",
    "admin_error",
    "admin_handler",
    "epoch",
    "iso",
    "json_body",
    "path_account_id",
    "path_text",
    "query_bool",
    "query_int",
    "query_text",
    "query_time",
]

MAX_ADMIN_BODY = 1024 * 1024  # admin bodies are small JSON documents; a mapping sync of 10,000 entries fits
_RELATIVE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Handler = Callable[[Request], Awaitable[Response | None]]


class BadRequest(Exception):
    """The caller sent something we cannot use. ``param`` names the offending field or query parameter."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def admin_error(status: int, message: str, *, param: str | None = None, code: str | None = None,
                headers: list[tuple[str, str]] | None = None) -> Response:
    return error_response(Dialect.OPENAI, status, message, param=param, code=code, headers=headers)


def admin_handler(fn: Handler) -> Handler:
    """Wrap an admin handler so that bad input and store errors come out as clear JSON statuses."""

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response | None:
        request.context.setdefault("DIALECT", "admin")
        try:
            return await fn(request)
        except BadRequest as e:
            return admin_error(400, e.message, param=e.param, code="invalid_request")
        except ValidationError as e:
            return admin_error(400, str(e), code="invalid_request")
        except NotFound as e:
            return admin_error(404, str(e), code="not_found")
        except Conflict as e:
            return admin_error(409, str(e), code="conflict")
        except StoreUnavailable:
            return admin_error(503, "the database is unreachable right now; retry shortly", code="store_unavailable",
                               headers=[("retry-after", "5")])

    return wrapper


# ---------------------------------------------------------------------------------------------------- bodies


def json_body(request: Request, *, max_bytes: int = MAX_ADMIN_BODY) -> dict[str, Any]:
    """The body as a JSON object; anything else is a 400 that says what was wrong."""
    if len(request.body) > max_bytes:
        raise BadRequest(f"request body is larger than {max_bytes} bytes")
    if not request.body.strip():
        raise BadRequest("a JSON object body is required")
    try:
        data = orjson.loads(request.body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"body is not valid JSON: {e.msg} at position {e.pos}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"body must be a JSON object, got {type(data).__name__}")
    return data


def only_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                         param=unknown[0])


# ---------------------------------------------------------------------------------------------------- path


def path_account_id(request: Request, name: str = "id") -> str:
    """The account UUID from the path. Malformed → 400 (never 404: rows are not looked up by garbage)."""
    raw = unquote(request.route_params.get(name, ""))
    try:
        return validate.account_id(raw)
    except ValidationError:
        raise BadRequest(f"malformed account id {raw[:64]!r}: expected a UUID", param=name) from None


def path_text(request: Request, name: str, *, limit: int = 256) -> str:
    """A percent-decoded path segment (model names may hold characters a client had to escape)."""
    value = unquote(request.route_params.get(name, ""))
    if not value.strip() or len(value) > limit or _CONTROL.search(value):
        raise BadRequest(f"{name} must be 1..{limit} printable characters", param=name)
    return value.strip()


# ---------------------------------------------------------------------------------------------------- query


def query_text(request: Request, name: str, *, limit: int = 256) -> str | None:
    value = request.query.get(name)
    if value is None or value.strip() == "":
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise BadRequest(f"{name} must be at most {limit} printable characters", param=name)
    return value.strip()


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number from {lo} to {hi}", param=name) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be a whole number from {lo} to {hi}", param=name)
    return value


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise BadRequest(f"{name} must be true or false", param=name)


def parse_time(raw: str, now: datetime) -> datetime:
    """RFC 3339, epoch seconds (or milliseconds), or a relative age such as ``24h``, ``7d``, ``90m``."""
    raw = raw.strip()
    if m := _RELATIVE.match(raw):
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        if number > 1e11:  # milliseconds (JavaScript's Date.now())
            number /= 1000
        if not 0 <= number < 1e10:
            raise ValueError(raw)
        return datetime.fromtimestamp(number, UTC)
    moment = datetime.fromisoformat(raw.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(raw)
    return moment.astimezone(UTC)


def query_time(request: Request, name: str, default: datetime | None, now: datetime) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_time(raw, now)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be an RFC 3339 time with an offset, epoch seconds, or an age such as "
                         "24h or 7d", param=name) from None


# ---------------------------------------------------------------------------------------------------- output


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def epoch(seconds: float | None) -> str | None:
    """Epoch seconds → RFC 3339 UTC (the UI shows reset countdowns from either)."""
    if seconds is None:
        return None
    return iso(datetime.fromtimestamp(seconds, UTC))
