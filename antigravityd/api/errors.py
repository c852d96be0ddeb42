"""Errors in each client dialect's own format, so every SDK raises its own exception type for them.

OpenAI: ``{"error": {"message", "type", "param", "code"}}``; Anthropic: ``{"type": "error", "error": {"type",
"message"}}``; Gemini: ``{"error": {"code", "message", "status"}}`` (upstream-protocol §4.11). The dialect is
known from the path, which lets even routing-level errors (404, 405, 401, 413) come out in the caller's format.
"""

from __future__ import annotations

import enum

from antigravityd.http.message import Response, json_response

__all__ = ["Dialect", "dialect_for_path", "error_response"]


class Dialect(enum.StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 405: "invalid_request_error", 408: "timeout", 413: "invalid_request_error",
                 429: "rate_limit_error", 503: "service_unavailable"}
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                    429: "rate_limit_error", 500: "api_error", 503: "overloaded_error", 529: "overloaded_error"}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  405: "INVALID_ARGUMENT", 408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT",
                  429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE",
                  504: "DEADLINE_EXCEEDED"}


def dialect_for_path(path: str) -> Dialect:
    if path.startswith("/v1/messages"):
        return Dialect.ANTHROPIC
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return Dialect.GEMINI
    return Dialect.OPENAI


def error_body(dialect: Dialect, status: int, message: str, *, kind: str | None = None,
               param: str | None = None, code: str | None = None) -> dict:
    if dialect is Dialect.ANTHROPIC:
        return {"type": "error", "error": {"type": kind or _ANTHROPIC_TYPES.get(status, _server_kind(status)),
                                           "message": message}}
    if dialect is Dialect.GEMINI:
        return {"error": {"code": status, "message": message,
                          "status": kind or _GEMINI_STATUS.get(status, "INTERNAL")}}
    return {"error": {"message": message, "type": kind or _OPENAI_TYPES.get(status, "server_error"),
                      "param": param, "code": code}}


def _server_kind(status: int) -> str:
    return "api_error" if status >= 500 else "invalid_request_error"


def error_response(dialect: Dialect, status: int, message: str, *, kind: str | None = None,
                   param: str | None = None, code: str | None = None,
                   headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response(error_body(dialect, status, message, kind=kind, param=param, code=code),
                         status=status, headers=headers)
