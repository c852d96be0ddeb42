"""Google OAuth for the account pool (upstream-protocol.md §5): refresh, code exchange, userinfo, consent URL.

Failure modes are distinct exceptions because the callers react differently:

* :class:`InvalidGrant` — the refresh token was revoked or expired: disable the account until re-authorised;
* :class:`OAuthNetworkError` — transport trouble or a 5xx: keep the account, try again later;
* :class:`OAuthConfigError` — no client secret configured, or Google says the client id/secret is wrong
  (:class:`InvalidClient`): an operator must fix the configuration; no account is at fault.

The client secret has no default (DESIGN.md §5): it is read when first needed, so a daemon without one starts and
serves already-authorised accounts until a refresh is actually due. No token ever appears in an exception text.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import trio

__all__ = [
    "SCOPES", "InvalidClient", "InvalidGrant", "NoRefreshToken", "OAuthClient", "OAuthConfigError", "OAuthError",
    "OAuthNetworkError", "TokenGrant", "UserInfo", "pkce_pair",
]

SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
CALL_DEADLINE = 30.0  # seconds for one token or userinfo call in all
MAX_BODY = 64 * 1024


class OAuthError(Exception):
    """An OAuth call failed. ``error`` is Google's error code (``invalid_grant`` …) when there is one."""

    def __init__(self, message: str, *, error: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class InvalidGrant(OAuthError):
    """The refresh token (or authorization code) is no longer valid: the account needs re-authorisation."""


class NoRefreshToken(OAuthError):
    """The code exchange succeeded but Google issued no refresh token: it does so only on a fresh consent, so
    the user must revoke the app's access (myaccount.google.com/permissions) and authorise again."""


class OAuthNetworkError(OAuthError):
    """Google could not be reached or answered with a server error; retry later."""


class OAuthConfigError(OAuthError):
    """The OAuth client is misconfigured (missing secret)."""


class InvalidClient(OAuthConfigError):
    """Google rejected the configured client id/secret."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str | None = None  # present when Google issued a new one (code exchange, or rotation)
    scope: str = ""
    id_token: str | None = None

    def __repr__(self) -> str:  # never print tokens
        return f"TokenGrant(expires_at={self.expires_at!r}, rotated={self.refresh_token is not None})"


@dataclass(frozen=True, slots=True)
class UserInfo:
    email: str
    name: str = ""
    id: str = ""
    picture: str = ""


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) for the authorization-code flow."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OAuthClient:
    def __init__(self, client_id: str, client_secret: str | Callable[[], str] | None, token_url: str,
                 userinfo_url: str, auth_url: str, http: httpx.AsyncClient, *,
                 scopes: tuple[str, ...] = SCOPES, clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url
        self.userinfo_url = userinfo_url
        self.auth_url = auth_url
        self.http = http
        self.scopes = scopes
        self._clock = clock

    @classmethod
    def from_config(cls, oauth: Any, http: httpx.AsyncClient) -> OAuthClient:
        """From the ``[oauth]`` config section; the secret (inline or a file) is read when first needed."""
        from antigravityd.config_loading import read_secret

        return cls(oauth.client_id, lambda: read_secret(oauth.client_secret, oauth.client_secret_file),
                   oauth.token_url, oauth.userinfo_url, oauth.auth_url, http)

    def _client_secret(self) -> str:
        secret = self._secret() if callable(self._secret) else self._secret
        if not secret:
            raise OAuthConfigError(
                "the Google OAuth client secret is not configured: set oauth.client_secret, or "
                "oauth.client_secret_file (e.g. a systemd credential)")
        return secret

    # ------------------------------------------------------------------------------------------ consent

    def authorization_url(self, state: str, redirect_uri: str, code_challenge: str | None = None) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scopes),
            "access_type": "offline",  # needed for a refresh token
            "prompt": "consent",  # a new refresh token even for an account that consented before
            "include_granted_scopes": "true",
            "state": state,
        }
        if code_challenge is not None:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        sep = "&" if "?" in self.auth_url else "?"
        return self.auth_url + sep + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)

    # ------------------------------------------------------------------------------------------ token endpoint

    async def refresh(self, refresh_token: str) -> TokenGrant:
        grant = await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        if grant.refresh_token == refresh_token:
            grant = TokenGrant(grant.access_token, grant.expires_at, None, grant.scope, grant.id_token)
        return grant

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None = None) -> TokenGrant:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        grant = await self._token(form)
        if grant.refresh_token is None:
            raise NoRefreshToken("Google issued no refresh token (was access_type=offline and prompt=consent used?)")
        return grant

    async def _token(self, form: dict[str, str]) -> TokenGrant:
        form = {"client_id": self.client_id, "client_secret": self._client_secret(), **form}
        started = self._clock()
        status, body = await self._call("POST", self.token_url, data=form,
                                        headers={"accept": "application/json"})
        doc = _json(body)
        if status == 200:
            token = doc.get("access_token") if isinstance(doc, dict) else None
            if not isinstance(token, str) or not token:
                raise OAuthError("token endpoint answered without an access_token", status=status)
            expires_in = doc.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
            refresh = doc.get("refresh_token")
            id_token = doc.get("id_token")
            return TokenGrant(token, started + lifetime, refresh if isinstance(refresh, str) and refresh else None,
                              str(doc.get("scope") or ""), id_token if isinstance(id_token, str) else None)
        error = str(doc.get("error") or "") if isinstance(doc, dict) else ""
        description = str(doc.get("error_description") or "") if isinstance(doc, dict) else ""
        # Google's descriptions are fixed phrases ("Token has been expired or revoked."); keep them short anyway.
        detail = f"{error}: {description[:120]}" if description else error or f"HTTP {status}"
        if error == "invalid_grant":
            raise InvalidGrant(f"refresh token or code rejected ({detail})", error=error, status=status)
        if error in ("invalid_client", "unauthorized_client"):
            raise InvalidClient(f"Google rejected the OAuth client id/secret ({detail})", error=error, status=status)
        if status >= 500 or status == 429:
            raise OAuthNetworkError(f"token endpoint unavailable ({detail})", error=error, status=status)
        raise OAuthError(f"token endpoint refused the request ({detail})", error=error, status=status)

    # ------------------------------------------------------------------------------------------ userinfo

    async def userinfo(self, access_token: str) -> UserInfo:
        status, body = await self._call("GET", self.userinfo_url,
                                        headers={"authorization": f"Bearer {access_token}",
                                                 "accept": "application/json"})
        doc = _json(body)
        if status != 200:
            if status >= 500 or status == 429:
                raise OAuthNetworkError(f"userinfo unavailable (HTTP {status})", status=status)
            raise OAuthError(f"userinfo refused the access token (HTTP {status})", status=status)
        email = doc.get("email") if isinstance(doc, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise OAuthError("userinfo answered without an email address", status=status)
        name = doc.get("name") or " ".join(p for p in (doc.get("given_name"), doc.get("family_name")) if p)
        return UserInfo(email=email, name=str(name or ""), id=str(doc.get("id") or ""),
                        picture=str(doc.get("picture") or ""))

    # ------------------------------------------------------------------------------------------ transport

    async def _call(self, method: str, url: str, **kw: Any) -> tuple[int, bytes]:
        try:
            with trio.fail_after(CALL_DEADLINE):
                async with self.http.stream(method, url, **kw) as response:
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > MAX_BODY:
                            break
                    return response.status_code, bytes(data[:MAX_BODY])
        except trio.TooSlowError:
            raise OAuthNetworkError(f"{_host(url)} did not answer within {CALL_DEADLINE:g}s") from None
        except httpx.TransportError as exc:
            raise OAuthNetworkError(f"could not reach {_host(url)} ({type(exc).__name__})") from None


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}


def _host(url: str) -> str:
    return httpx.URL(url).host
