"""Error bodies exactly as Cloud Code sends them (upstream-protocol.md §4), and the duration/time formats they use.

Everything the fake answers with a non-200 status is built here, so the shapes live in one place: the
``google.rpc.Status`` envelope with ``ErrorInfo`` first in ``details`` (proxies read ``details[0]`` positionally),
string-only ``ErrorInfo.metadata``, proto ``Duration`` strings in ``RetryInfo`` and Go-style durations in
``quotaResetDelay``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
HELP = "type.googleapis.com/google.rpc.Help"
LOCALIZED = "type.googleapis.com/google.rpc.LocalizedMessage"
DOMAIN = "cloudcode-pa.googleapis.com"

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


class RpcError(Exception):
    """Raised by handlers to answer with a Google error. ``body`` is the JSON object (or list, for the array form)."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.body = body
        self.headers = headers or []


def status_body(code: int, message: str, details: list[dict] | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    error.update(extra)
    return {"error": error}


def error_info(reason: str, metadata: dict[str, str] | None = None, domain: str = DOMAIN) -> dict:
    info: dict[str, Any] = {"@type": ERROR_INFO, "reason": reason, "domain": domain}
    if metadata:
        info["metadata"] = {k: str(v) for k, v in metadata.items()}
    return info


def retry_info(seconds: float) -> dict:
    return {"@type": RETRY_INFO, "retryDelay": proto_duration(seconds)}


# ------------------------------------------------------------------------------------------------ durations, times


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()``: ``634.846608ms``, ``1.354703728s``, ``161h39m41.300432511s``."""
    ns = round(seconds * 1_000_000_000)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_frac(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_frac(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{_frac(rest, 1_000_000_000)}s"


def _frac(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def go_duration_whole_seconds(seconds: float) -> str:
    """The rounded form used in human messages ("reset after 161h39m41s", "after 0s")."""
    return go_duration(float(int(seconds)))


def proto_duration(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in JSON: 0, 3, 6 or 9 fractional digits + ``s`` (``0.634846608s``, ``40s``)."""
    ns = round(seconds * 1_000_000_000)
    whole, frac = divmod(ns, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    for digits in (3, 6, 9):
        scale = 10 ** (9 - digits)
        if frac % scale == 0:
            return f"{whole}.{frac // scale:0{digits}d}s"
    return f"{whole}.{frac:09d}s"


def rfc3339(epoch: float) -> str:
    """``2026-04-10T02:03:29Z`` — UTC, ``Z``, no fraction (as in real captures)."""
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------ the catalogue


def unauthenticated(reason: str = "ACCESS_TOKEN_TYPE_UNSUPPORTED", method: str = "GenerateContent") -> RpcError:
    if reason == "CREDENTIALS_MISSING":
        message = ("Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
    else:
        message = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                   "other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
    info = error_info(reason, {
        "service": DOMAIN, "method": f"google.internal.cloud.code.v1internal.CloudCode.{method}",
    }, domain="googleapis.com")
    return RpcError(401, status_body(401, message, [info]),
                    [("www-authenticate", 'Bearer realm="https://accounts.google.com/"')])


def invalid_argument(message: str, violations: list[tuple[str, str]] | None = None, legacy: bool = False) -> RpcError:
    details = None
    if violations:
        details = [{"@type": BAD_REQUEST, "fieldViolations": [
            {"field": f, "description": d} for f, d in violations
        ]}]
    extra: dict[str, Any] = {}
    if legacy:
        extra["errors"] = [{"message": message, "domain": "global", "reason": "badRequest"}]
    return RpcError(400, status_body(400, message, details, **extra))


def claude_invalid(inner: str, request_id: str) -> RpcError:
    """A Claude (Anthropic-on-Vertex) 400: the Anthropic error JSON travels as a *string* in ``error.message``."""
    wrapped = json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": inner}, "request_id": request_id},
        separators=(",", ":"),
    )
    return RpcError(400, status_body(400, wrapped))


def not_found(message: str = "Requested entity was not found.") -> RpcError:
    return RpcError(404, status_body(404, message))


def rate_limited(model: str, delay: float, now: float) -> RpcError:
    body = status_body(429, f"You have exhausted your capacity on this model. Your quota will reset after "
                            f"{go_duration_whole_seconds(delay)}.", [
        error_info("RATE_LIMIT_EXCEEDED", {
            "uiMessage": "true", "model": model, "quotaResetDelay": go_duration(delay),
            "quotaResetTimeStamp": rfc3339(now + delay),
        }),
        retry_info(delay),
    ])
    return RpcError(429, body)


QUOTA_MESSAGE = "You have exhausted your capacity on this model. Your quota will reset after {reset}."


def quota_exhausted(model: str, delay: float, now: float, template: str = QUOTA_MESSAGE) -> RpcError:
    body = status_body(429, template.format(reset=go_duration_whole_seconds(delay)), [
        error_info("QUOTA_EXHAUSTED", {
            "uiMessage": "true", "model": model, "quotaResetDelay": go_duration(delay),
            "quotaResetTimeStamp": rfc3339(now + delay),
        }),
        retry_info(delay),
    ])
    return RpcError(429, body)


def resource_exhausted() -> RpcError:
    return RpcError(429, status_body(429, "Resource has been exhausted (e.g. check quota)."))


def capacity(model: str, retry_delay: float | None = None) -> RpcError:
    details = [error_info("MODEL_CAPACITY_EXHAUSTED", {"model": model})]
    if retry_delay is not None:
        details.append(retry_info(retry_delay))
    return RpcError(503, status_body(503, f"No capacity available for model {model} on the server", details))


def internal() -> RpcError:
    return RpcError(500, status_body(500, "Internal error encountered."))


def unavailable() -> RpcError:
    return RpcError(503, status_body(503, "The service is currently unavailable."))


def verification_required(url: str = "https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=fake") -> RpcError:
    return RpcError(403, status_body(403, "Verify your account to continue.", [
        error_info("VALIDATION_REQUIRED", {
            "validation_url": url,
            "validation_url_link_text": "Verify your account",
            "validation_error_message": "Verify your account to continue.",
            "validation_message_description": "To keep using this service, verify your account.",
            "validation_learn_more_link_text": "Learn more",
            "validation_learn_more_url": "https://support.google.com/accounts/answer/fake",
        }),
        {"@type": HELP, "links": [{"description": "Verify your account", "url": url}]},
    ]))


def tos_violation(appeal_url: str = "https://support.google.com/appeal/fake") -> RpcError:
    return RpcError(403, status_body(
        403,
        "This service has been disabled in this account for violation of Terms of Service. Please submit an appeal "
        "to continue using this product.",
        [error_info("TOS_VIOLATION", {
            "uiMessage": "true", "appeal_url": appeal_url, "appeal_url_link_text": "Submit an appeal",
        })],
    ))


def service_disabled(project_number: str = "123456789012") -> RpcError:
    url = f"https://console.developers.google.com/apis/api/cloudcode-pa.googleapis.com/overview?project={project_number}"
    message = (f"Cloud Code Private API has not been used in project {project_number} before or it is disabled. "
               f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for "
               "the action to propagate to our systems and retry.")
    return RpcError(403, status_body(403, message, [
        error_info("SERVICE_DISABLED", {
            "consumer": f"projects/{project_number}", "service": DOMAIN, "serviceTitle": "Cloud Code Private API",
            "containerInfo": project_number, "activationUrl": url,
        }, domain="googleapis.com"),
        {"@type": LOCALIZED, "locale": "en-US", "message": message},
        {"@type": HELP, "links": [{"description": "Google developers console API activation", "url": url}]},
    ]))


def permission_denied(message: str = "The caller does not have permission") -> RpcError:
    return RpcError(403, status_body(403, message))
