"""Errors of the account lifecycle services (onboarding, quota refresh, warmup), each with the HTTP status an
admin API answers with. The CLI prints ``str(error)``; the API renders ``{"error": {"message", "type", "code"}}``.

The status says whose problem it is: 400 the caller's input, 404 an unknown account, 409 the account's state
(disabled, revoked), 502 Google's answer, 503 our configuration or database being unavailable right now.
"""

from __future__ import annotations

from antigravityd.store import Account, NotFound, Repository, StoreUnavailable, ValidationError

__all__ = ["LifecycleError", "load_account", "store_unavailable"]

_TYPES = {400: "invalid_request_error", 404: "not_found", 409: "conflict", 502: "upstream_error",
          503: "service_unavailable"}


class LifecycleError(Exception):
    """A lifecycle operation failed in a way the caller should hear about. Never carries a token."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def type(self) -> str:
        return _TYPES.get(self.status, "error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}

    # -------------------------------------------------------------------------------------------- common cases

    @classmethod
    def bad_input(cls, message: str, code: str = "invalid_request") -> LifecycleError:
        return cls(400, code, message)

    @classmethod
    def not_found(cls, what: str) -> LifecycleError:
        return cls(404, "not_found", f"no account {what}")

    @classmethod
    def conflict(cls, code: str, message: str) -> LifecycleError:
        return cls(409, code, message)

    @classmethod
    def upstream(cls, code: str, message: str) -> LifecycleError:
        return cls(502, code, message)

    @classmethod
    def unavailable(cls, code: str, message: str) -> LifecycleError:
        return cls(503, code, message)


async def load_account(repo: Repository, account_id: str) -> Account:
    """The stored account for an API-given id: malformed → 400, unknown → 404, database away → 503."""
    try:
        return await repo.get_account(account_id)
    except ValidationError as e:
        raise LifecycleError.bad_input(str(e), "invalid_account_id") from None
    except NotFound:
        raise LifecycleError.not_found(account_id[:64]) from None
    except StoreUnavailable:
        raise store_unavailable() from None


def store_unavailable() -> LifecycleError:
    return LifecycleError.unavailable("store_unavailable", "the database is unavailable; try again shortly")
