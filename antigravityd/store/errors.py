"""Errors raised by the repository. Callers catch these, never a driver's exceptions.

The split matters at the API edge: :class:`ValidationError` is the caller's fault (400/422), :class:`NotFound` is
a well-formed reference to nothing (404), :class:`Conflict` is a uniqueness clash (409), and
:class:`StoreUnavailable` means the database cannot be reached right now (503; the daemon keeps serving proxy
traffic from memory and the call can be retried later).
"""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "StoreError", "StoreUnavailable", "ValidationError"]


class StoreError(Exception):
    """Base class; a bare StoreError is a bug or an unexpected database state."""


class NotFound(StoreError):
    """The id or email is well formed but names nothing."""


class ValidationError(StoreError, ValueError):
    """The input is malformed (bad UUID, empty email, oversized field ...). Never raised for missing rows."""


class Conflict(StoreError):
    """A uniqueness rule would be broken (e.g. creating an account whose email exists)."""


class StoreUnavailable(StoreError):
    """The database is unreachable, shutting down, or did not answer within the statement timeout."""
