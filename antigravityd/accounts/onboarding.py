"""Adding accounts: by refresh token (one or many), or by signing in with Google in a browser.

Both paths meet in :meth:`Onboarding._save`: with a fresh access token, ``userinfo`` names the account (email,
display name); the account is upserted **by email** — adding an account again updates its refresh token, and an
account that had been disabled for ``invalid_grant`` is back in service — and, when the daemon's services are
attached, the project is discovered and the quota fetched once, so the account is routable at once.

* By refresh token: the token is refreshed first (proving it works); if Google answers with a new refresh token
  (rotation), the new one is stored — the old one may be retired already. Results never echo a token: failures
  name the token by a hint of its last four characters.
* Browser OAuth: :meth:`start_login` hands out an authorization URL with a CSRF ``state`` and PKCE
  (``oauth_state.py``); the callback (or a pasted callback URL / code, for headless servers) comes back to
  :meth:`finish_login`, which checks the state (single use, 10 min), exchanges the code with the same redirect URI
  and verifier, and saves. Google gives a refresh token only on a fresh consent: without one the user is told to
  revoke the app's access and sign in again.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio

from antigravityd.accounts.errors import LifecycleError, store_unavailable
from antigravityd.accounts.importer import EmailLookupUnavailable
from antigravityd.accounts.oauth_state import ExpiredState, OAuthStateStore, PendingLogin, UnknownState
from antigravityd.accounts.quota import QuotaScheduler
from antigravityd.accounts.registry import AccountRegistry
from antigravityd.store import AccountDraft, NotFound, Repository, StoreUnavailable, ValidationError
from antigravityd.store import validate as v
from antigravityd.upstream.oauth import (
    InvalidGrant,
    NoRefreshToken,
    OAuthClient,
    OAuthConfigError,
    OAuthError,
    OAuthNetworkError,
    TokenGrant,
    UserInfo,
)

__all__ = ["REVOKE_ADVICE", "AddedAccount", "Onboarding", "parse_pasted", "token_hint"]

log = logging.getLogger("antigravityd.accounts")

MAX_BULK = 100  # refresh tokens per add-by-token call
MAX_PASTE = 8192  # characters of a pasted callback URL
REVOKE_ADVICE = ("Google did not issue a refresh token, because this Google account had already authorised the "
                 "app. Remove its access at https://myaccount.google.com/permissions, then sign in again.")


def token_hint(token: object) -> str:
    """Which token a result is about, without revealing it: its last four characters."""
    return "…" + token.strip()[-4:] if isinstance(token, str) and len(token.strip()) >= 12 else "…"


@dataclass(frozen=True, slots=True)
class AddedAccount:
    id: str
    email: str
    created: bool
    name: str | None = None
    quota_error: str | None = None  # the account was saved, but its first quota fetch failed

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "email": self.email, "created": self.created}
        if self.quota_error:
            out["quota_error"] = self.quota_error
        return out


def oauth_error(e: OAuthError, during: str) -> LifecycleError:
    """A failed OAuth call → what the caller hears. OAuthClient messages never contain a token."""
    if isinstance(e, NoRefreshToken):
        return LifecycleError.bad_input(REVOKE_ADVICE, "no_refresh_token")
    if isinstance(e, InvalidGrant):
        what = "authorization code" if during == "exchange" else "refresh token"
        return LifecycleError.bad_input(f"Google rejected the {what} (invalid_grant): it was revoked, expired or "
                                        "already used", "invalid_grant")
    if isinstance(e, OAuthConfigError):
        return LifecycleError.unavailable("oauth_not_configured", str(e))
    if isinstance(e, OAuthNetworkError):
        return LifecycleError.upstream(f"{during}_unavailable",
                                       f"Google's OAuth service is unavailable ({during}): {e}")
    return LifecycleError.upstream(f"{during}_failed", f"Google refused the {during} call: {e}")


def parse_pasted(text: str) -> tuple[str | None, str | None, str | None]:
    """(code, state, error) from a pasted callback URL (or just its query), or a bare authorization code."""
    text = text.strip()
    if len(text) > MAX_PASTE:
        raise LifecycleError.bad_input("the pasted text is too long to be a callback URL or code")
    if "code=" in text or "error=" in text or text.startswith(("http://", "https://")):
        query = urllib.parse.urlsplit(text).query if "://" in text else text.lstrip("?")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        return params.get("code") or None, params.get("state") or None, params.get("error") or None
    code = urllib.parse.unquote(text) if "%" in text else text
    return code or None, None, None


class Onboarding:
    def __init__(self, repo: Repository, oauth: OAuthClient, *, registry: AccountRegistry | None = None,
                 quota: QuotaScheduler | None = None, clock: Callable[[], float] = time.monotonic,
                 concurrency: int = 4, state_ttl: float = 600.0, max_pending: int = 100) -> None:
        """``registry``/``quota``: when given, a new account is loaded into the pool and gets its project and
        first quota at once. ``clock``: monotonic seconds for the login states' 10 minute lifetime."""
        self.repo = repo
        self.oauth = oauth
        self.registry = registry
        self.quota = quota
        self.concurrency = concurrency
        self.logins = OAuthStateStore(clock, ttl=state_ttl, capacity=max_pending)

    # -------------------------------------------------------------------------------------------- by token

    async def identify(self, refresh_token: str) -> tuple[TokenGrant, UserInfo, str]:
        """Refresh → userinfo; (grant, user, the refresh token to keep). Raises LifecycleError."""
        try:
            token = v.token(refresh_token)
        except ValidationError as e:
            raise LifecycleError.bad_input(str(e), "invalid_token") from None
        try:
            grant = await self.oauth.refresh(token)
        except OAuthError as e:
            raise oauth_error(e, "refresh") from None
        try:
            user = await self.oauth.userinfo(grant.access_token)
        except OAuthError as e:
            raise oauth_error(e, "userinfo") from None
        return grant, user, grant.refresh_token or token

    async def lookup_email(self, refresh_token: str) -> tuple[str, str]:
        """The importer's lookup: (email, refresh token to store). Failures say why, and skip that token."""
        try:
            _, user, keep = await self.identify(refresh_token)
        except LifecycleError as e:
            raise EmailLookupUnavailable(e.message) from None
        return user.email, keep

    async def add_refresh_token(self, refresh_token: str, *, proxy_url: str | None = None,
                                name: str | None = None) -> AddedAccount:
        grant, user, keep = await self.identify(refresh_token)
        added = await self._save(grant, user, keep, proxy_url=proxy_url, name=name)
        return (await self._bootstrap([added]))[0]

    async def add_refresh_tokens(self, tokens: Iterable[object], *, proxy_url: str | None = None) -> dict[str, Any]:
        """Bulk add: ``{"added": [{id, email, created[, quota_error]}], "failed": [{hint, error, code, status}]}``
        (``status``: what this token alone would have got)."""
        unique = list(dict.fromkeys(t.strip() if isinstance(t, str) else t for t in tokens))
        if not unique:
            raise LifecycleError.bad_input("refresh_tokens must hold at least one token")
        if len(unique) > MAX_BULK:
            raise LifecycleError.bad_input(f"at most {MAX_BULK} refresh tokens per call")
        if proxy_url:
            try:
                v.proxy_url(proxy_url)
            except ValidationError as e:
                raise LifecycleError.bad_input(str(e), "invalid_proxy_url") from None
        added: list[AddedAccount] = []
        failed: list[dict[str, str]] = []
        limiter = trio.CapacityLimiter(self.concurrency)

        async def one(token: object) -> None:
            async with limiter:
                try:
                    if not isinstance(token, str):
                        raise LifecycleError.bad_input("refresh token must be a string", "invalid_token")
                    grant, user, keep = await self.identify(token)
                    added.append(await self._save(grant, user, keep, proxy_url=proxy_url))
                except LifecycleError as e:
                    failed.append({"hint": token_hint(token), "error": e.message, "code": e.code, "status": e.status})

        async with trio.open_nursery() as nursery:
            for token in unique:
                nursery.start_soon(one, token)
        added = await self._bootstrap(added)
        return {"added": [a.public() for a in added], "failed": failed}

    # -------------------------------------------------------------------------------------------- browser

    def start_login(self, redirect_uri: str, *, proxy_url: str | None = None) -> tuple[str, PendingLogin]:
        """(authorization URL, pending login). The URL carries the state and the PKCE challenge."""
        login = self.logins.create(redirect_uri, proxy_url=proxy_url)
        return self.oauth.authorization_url(login.state, redirect_uri, login.code_challenge), login

    def take_login(self, state: str | None) -> PendingLogin:
        if not state:
            raise LifecycleError.bad_input("the state parameter is missing", "missing_state")
        try:
            return self.logins.take(state)
        except ExpiredState as e:
            raise LifecycleError.bad_input(f"this sign-in link has expired ({e}); start again", "expired_state") \
                from None
        except UnknownState:
            raise LifecycleError.bad_input("unknown or already used sign-in state; start again", "invalid_state") \
                from None

    async def finish_login(self, login: PendingLogin, code: str | None) -> AddedAccount:
        """Exchange the code of a taken login and save the account."""
        if not code:
            raise LifecycleError.bad_input("the authorization code is missing", "missing_code")
        try:
            code = v.token(code, "authorization code")
        except ValidationError as e:
            raise LifecycleError.bad_input(str(e), "invalid_code") from None
        try:
            grant = await self.oauth.exchange_code(code, login.redirect_uri, login.code_verifier)
        except OAuthError as e:
            raise oauth_error(e, "exchange") from None
        try:
            user = await self.oauth.userinfo(grant.access_token)
        except OAuthError as e:
            raise oauth_error(e, "userinfo") from None
        assert grant.refresh_token is not None  # exchange_code raises NoRefreshToken otherwise
        added = await self._save(grant, user, grant.refresh_token, proxy_url=login.proxy_url)
        return (await self._bootstrap([added]))[0]

    async def finish_pasted(self, pasted: str, *, state: str | None = None) -> AddedAccount:
        """Headless sign-in: the user pastes the callback URL from the browser's address bar (or the bare code,
        then ``state`` must be given)."""
        code, url_state, error = parse_pasted(pasted)
        if state and url_state and state != url_state:
            raise LifecycleError.bad_input("the state in the pasted URL does not match this sign-in", "invalid_state")
        login = self.take_login(state or url_state)
        if error:
            raise LifecycleError.bad_input(f"Google reported: {error[:200]}", "authorization_failed")
        return await self.finish_login(login, code)

    # -------------------------------------------------------------------------------------------- saving

    async def _save(self, grant: TokenGrant, user: UserInfo, refresh_token: str, *, proxy_url: str | None = None,
                    name: str | None = None) -> AddedAccount:
        try:
            try:
                existing = await self.repo.get_account_by_email(user.email)
            except NotFound:
                existing = None
            # A new sign-in proves the account works again: lift a disable that a revoked token caused.
            revived = existing is not None and existing.disabled and \
                (existing.disabled_reason or "").startswith("invalid_grant")
            result = await self.repo.upsert_account(AccountDraft(
                email=user.email, refresh_token=refresh_token, name=name or user.name or None,
                access_token=grant.access_token, expires_at=grant.expires_at, proxy_url=proxy_url or None,
                disabled=False if revived else None))
        except ValidationError as e:
            raise LifecycleError.bad_input(str(e), "invalid_account") from None
        except StoreUnavailable:
            raise store_unavailable() from None
        account = result.account
        log.info("%s account %s", "added" if result.created else "updated", account.email,
                 extra={"ACCOUNT": account.email})
        return AddedAccount(account.id, account.email, result.created, account.name)

    async def _bootstrap(self, added: list[AddedAccount]) -> list[AddedAccount]:
        """Load new accounts into the pool, then discover each project and fetch the first quota."""
        if not added or self.registry is None:
            return added
        try:
            await self.registry.reload()
        except StoreUnavailable:
            return added  # the watcher loads them once the database is back
        if self.quota is None:
            return added
        quota = self.quota
        out = list(added)
        limiter = trio.CapacityLimiter(self.concurrency)

        async def first_quota(i: int, a: AddedAccount) -> None:
            async with limiter:
                try:
                    await quota.refresh_account(a.id)
                except LifecycleError as e:
                    out[i] = AddedAccount(a.id, a.email, a.created, a.name, quota_error=e.message)

        async with trio.open_nursery() as nursery:
            for i, a in enumerate(added):
                nursery.start_soon(first_quota, i, a)
        return out
