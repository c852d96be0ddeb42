"""Errors the translators raise. Only one kind escapes them: the client sent something we cannot translate.

Whose fault it is decides what happens next (h11's Local/RemoteProtocolError split): a :class:`ClientError` is
rendered by the API layer as a 4xx in the caller's own dialect (OpenAI ``error`` object, Anthropic
``invalid_request_error``, Google ``INVALID_ARGUMENT``). Junk from the *upstream* never raises here — the stream
translators skip what they cannot read — and anything else escaping a translator is a bug in our code.

Messages name the offending field with a JSON-path-like ``param`` (``messages[3].tool_calls[0].function.arguments``)
and never quote prompt content, because error messages end up in logs.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["ClientError", "UnknownModel"]


class ClientError(Exception):
    """The request is malformed or asks for something we cannot do. Rendered as a 4xx, never retried.

    ``param`` is the path of the offending field (OpenAI's ``error.param``), ``code`` a short machine-readable
    tag (OpenAI's ``error.code``) such as ``"model_not_found"``.
    """

    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status}, param={self.param!r})"


class UnknownModel(ClientError):
    """No mapping, alias or pass-through rule accepts this model name. The message lists what is known."""

    MAX_LISTED = 40  # keep the message readable when an account reports a long catalogue

    def __init__(self, name: str, known_names: Collection[str]) -> None:
        self.name = name
        self.known_names = sorted(set(known_names))
        listed = self.known_names[: self.MAX_LISTED]
        more = len(self.known_names) - len(listed)
        suffix = f" (and {more} more)" if more > 0 else ""
        known = ", ".join(listed) if listed else "none"
        super().__init__(
            f"Unknown model: {name!r}. Known models: {known}{suffix}. "
            "Add a model mapping to route other names.",
            status=400,
            param="model",
            code="model_not_found",
        )
