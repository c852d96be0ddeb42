"""Admin routes of the account lifecycle: adding accounts (refresh tokens, Google sign-in), quota refresh, warmup.

Every route here is under ``/api/`` and so needs the admin key (``api/auth.py``), except the OAuth callback, which
Google's redirect brings to the browser without one: it is protected by the single-use ``state`` instead and
answers with small HTML pages (every dynamic value HTML-escaped). Errors elsewhere are JSON
``{"error": {"message", "type", "code"}}``: 400 bad input (a malformed account id too), 404 unknown account,
409 the account's state forbids it, 502 Google failed, 503 configuration or database not available.

The OAuth redirect URI is ``<oauth.redirect_base>/api/oauth/callback``; without a configured base it is the
loopback address the admin is using (the ``Host`` of this request, when that is a loopback name), else
``fallback_base`` (this daemon's own address). Google accepts only loopback redirects for the Antigravity client,
so on a remote server the browser lands on an unreachable page whose address the user pastes into
``POST /api/oauth/submit-code`` (or ``antigravityd accounts login``).
"""

from __future__ import annotations

import html
import ipaddress
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from antigravityd.accounts.errors import LifecycleError
from antigravityd.accounts.lifecycle import Lifecycle
from antigravityd.accounts.onboarding import REVOKE_ADVICE
from antigravityd.http.message import Request, Response, json_response
from antigravityd.http.router import Router

__all__ = ["CALLBACK_PATH", "local_base", "redirect_uri_for", "register"]

CALLBACK_PATH = "/api/oauth/callback"
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_PAGE_HEADERS = [("cache-control", "no-store"), ("referrer-policy", "no-referrer"),
                 ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                             "script-src 'unsafe-inline'")]
CLI_HINT = ("If you started this sign-in with `antigravityd accounts login` or on another instance, copy this "
            "page's address from the address bar and paste it there.")


def local_base(bind: str, port: int) -> str:
    """This daemon's own address as a browser on this machine reaches it (for ``fallback_base``)."""
    try:
        ipv6 = bind not in ("", "localhost") and ipaddress.ip_address(bind).version == 6
    except ValueError:
        ipv6 = False
    return f"http://[::1]:{port}" if ipv6 and bind != "::" else f"http://127.0.0.1:{port}"


def redirect_uri_for(request: Request, redirect_base: str, fallback_base: str) -> str:
    if redirect_base:
        return redirect_base.rstrip("/") + CALLBACK_PATH
    host = request.headers.get("host") or ""
    if _HOST.fullmatch(host):
        try:
            name = urllib.parse.urlsplit("//" + host).hostname or ""
            loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return f"http://{host}{CALLBACK_PATH}"
    return fallback_base.rstrip("/") + CALLBACK_PATH


def _error(e: LifecycleError) -> Response:
    return json_response(e.body(), status=e.status)


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        doc = request.json()
    except ValueError:
        raise LifecycleError.bad_input("the request body is not valid JSON", "invalid_json") from None
    if not isinstance(doc, dict):
        raise LifecycleError.bad_input("the request body must be a JSON object", "invalid_json")
    return doc


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise LifecycleError.bad_input(f"{key} must be a string")
    return value or None


Handler = Callable[[Request], Awaitable[Response]]


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except LifecycleError as e:
            return _error(e)

    return wrapped


def page(status: int, title: str, message: str, *, success: bool = False) -> Response:
    close = "<script>setTimeout(function(){window.close()},3000)</script>" if success else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>{close}"
        "<style>body{font-family:system-ui,sans-serif;max-width:42em;margin:4em auto;padding:0 1em;line-height:1.5}"
        "</style></head>"
        f"<body><h1>{'✅' if success else '❌'} {html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return Response(status, body.encode(), content_type="text/html; charset=utf-8", headers=list(_PAGE_HEADERS))


def _failure_page(e: LifecycleError) -> Response:
    if e.code == "no_refresh_token":
        return page(400, "No Refresh Token", REVOKE_ADVICE)
    if e.code.startswith("exchange_") or e.code in ("invalid_grant", "invalid_code", "missing_code"):
        return page(e.status, "Token Exchange Failed", e.message)
    if e.code.startswith("userinfo_"):
        return page(e.status, "Failed to Get User Info", e.message)
    if e.code == "oauth_not_configured":
        return page(e.status, "Sign-in Not Configured", e.message)
    return page(e.status, "Failed to Save Account", e.message)


def register(router: Router, lifecycle: Lifecycle, *, redirect_base: str = "",
             fallback_base: str = "http://127.0.0.1:8045") -> None:
    """Add the lifecycle routes. ``redirect_base`` is ``config.oauth.redirect_base``; ``fallback_base`` this
    daemon's own http://host:port (used when the admin's Host is not a loopback name)."""
    onboarding, quota, warmer = lifecycle.onboarding, lifecycle.quota, lifecycle.warmer

    async def oauth_url(request: Request) -> Response:
        redirect_uri = redirect_uri_for(request, redirect_base, fallback_base)
        url, login = onboarding.start_login(redirect_uri)
        return json_response({"url": url, "state": login.state, "redirect_uri": redirect_uri})

    async def oauth_callback(request: Request) -> Response:
        q = request.query
        if not q.get("state"):
            return page(400, "Missing State Token", "The sign-in answer carries no state; start the sign-in again.")
        try:
            login = onboarding.take_login(q["state"])
        except LifecycleError as e:
            return page(400, "Invalid State Token", f"{e.message}. {CLI_HINT}")
        if q.get("error"):
            return page(400, "Authorization Failed", f"Google reported: {q['error'][:200]}")
        if not q.get("code"):
            return page(400, "Missing Authorization Code", "Google's answer carries no code; start again.")
        try:
            added = await onboarding.finish_login(login, q["code"])
        except LifecycleError as e:
            return _failure_page(e)
        verb = "added" if added.created else "updated"
        note = f" (its first quota fetch failed: {added.quota_error})" if added.quota_error else ""
        return page(200, "Authorization Successful", f"Account {verb}: {added.email}{note}. You can close this "
                                                     "window.", success=True)

    async def submit_code(request: Request) -> Response:
        doc = _body(request)
        state, code, url = _optional_str(doc, "state"), _optional_str(doc, "code"), _optional_str(doc, "callback_url")
        if not (code or url):
            raise LifecycleError.bad_input("give code (with state) or callback_url", "missing_code")
        if code and not state:
            raise LifecycleError.bad_input("a bare code needs the state of its sign-in", "missing_state")
        added = await onboarding.finish_pasted(url or code or "", state=state)
        return json_response({"account_id": added.id, "email": added.email, "created": added.created,
                              **({"quota_error": added.quota_error} if added.quota_error else {})})

    async def add_by_token(request: Request) -> Response:
        doc = _body(request)
        tokens = doc.get("refresh_tokens")
        if not isinstance(tokens, list):
            raise LifecycleError.bad_input("refresh_tokens must be a list of refresh tokens")
        result = await onboarding.add_refresh_tokens(tokens, proxy_url=_optional_str(doc, "proxy_url"))
        # Per-token results; only when every token failed does the status say so (4xx if all were the caller's).
        failures = [f["status"] for f in result["failed"]]
        status = 200 if result["added"] else (400 if all(s < 500 for s in failures) else max(failures))
        return json_response(result, status=status)

    async def refresh_quota(request: Request) -> Response:
        return json_response(await quota.refresh_account(request.route_params["account_id"]))

    async def refresh_all(request: Request) -> Response:
        return json_response(await quota.refresh_all())

    async def warmup(request: Request) -> Response:
        return json_response(await warmer.warm_account(request.route_params["account_id"]))

    async def warmup_all(request: Request) -> Response:
        return json_response(await warmer.warm_all())

    router.get("/api/oauth/url", _json_errors(oauth_url), watch_client=False)
    router.get(CALLBACK_PATH, oauth_callback)
    router.post("/api/oauth/submit-code", _json_errors(submit_code))
    router.post("/api/accounts/add-by-token", _json_errors(add_by_token))
    router.post("/api/accounts/refresh-all-quotas", _json_errors(refresh_all))
    router.post("/api/accounts/warmup-all", _json_errors(warmup_all))
    router.post("/api/accounts/{account_id}/refresh-quota", _json_errors(refresh_quota))
    router.post("/api/accounts/{account_id}/warmup", _json_errors(warmup))
