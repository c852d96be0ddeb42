"""The fake Google OAuth endpoints (upstream-protocol.md §5): ``POST /token``, ``GET /oauth2/v2/userinfo`` (and
``/oauth2/v1/userinfo``), ``GET /o/oauth2/v2/auth``.

* ``/token`` takes form-encoded ``refresh_token`` and ``authorization_code`` grants; a wrong client id/secret is
  401 ``invalid_client``, a revoked/unknown refresh token or a bad code is 400 ``invalid_grant``; an account with
  ``rotate_refresh_every=N`` gets a new refresh token on every Nth refresh (the old one stops working).
* ``/o/oauth2/v2/auth`` "logs in" immediately: it redirects (302) to ``redirect_uri`` with ``code`` and
  ``state``. The account is ``login_hint`` if given, else ``state.default_login_email``, else a new account;
  unknown emails are created on the fly. PKCE (S256) is enforced at the exchange when a challenge was sent.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import zlib
from typing import TYPE_CHECKING

from . import errors
from .faults import ERROR_KINDS

if TYPE_CHECKING:
    from .app import FakeUpstream
    from .httpserver import Request, Response

SCOPES = ("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
          "https://www.googleapis.com/auth/userinfo.profile https://www.googleapis.com/auth/cclog "
          "https://www.googleapis.com/auth/experimentsandconfigs")


def _oauth_error(status: int, error: str, description: str) -> errors.RpcError:
    return errors.RpcError(status, {"error": error, "error_description": description})


class OAuth:
    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake

    async def token(self, req: Request, resp: Response) -> None:
        fake, state = self.fake, self.fake.state
        content_type = req.headers.get("content-type", "")
        form = {k: v for k, v in urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)}
        grant = form.get("grant_type", "")
        account = None
        if grant == "refresh_token":
            account = state.account_for_refresh(form.get("refresh_token", ""))
        elif grant == "authorization_code" and (pending := state.codes.get(form.get("code", ""))) is not None:
            account = state.accounts.get(pending.email)
        email = account.email if account else None
        req.tags.update(rpc="token", email=email)
        fake.stats.record_request(email, "token")
        fake.record("token", req, email, None, {k: ("<secret>" if k in ("client_secret",) else v)
                                                  for k, v in form.items()})
        if (fault := fake.faults.take(email, None, "token", kinds=ERROR_KINDS)) is not None:
            fake.stats.faults_fired[str(fault.kind)] += 1
            raise fake.cloudcode.error_fault(fault, None)
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise _oauth_error(400, "invalid_request", "Invalid content type; use application/x-www-form-urlencoded.")
        if fake.behaviour.check_oauth_client:
            if not form.get("client_secret"):
                raise _oauth_error(400, "invalid_request", "client_secret is missing.")
            if form.get("client_id") != state.client_id or form.get("client_secret") != state.client_secret:
                raise _oauth_error(401, "invalid_client", "Unauthorized")
        ttl = fake.behaviour.access_token_ttl
        if grant == "refresh_token":
            if account is None:
                raise _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            account.refresh_grants += 1
            out = {"access_token": state.issue_access_token(account.email, ttl), "expires_in": ttl,
                   "token_type": "Bearer", "scope": SCOPES}
            if account.rotate_refresh_every and account.refresh_grants % account.rotate_refresh_every == 0:
                out["refresh_token"] = state.rotate_refresh_token(account)
            await fake.send_json(resp, 200, out, oauth=True)
            return
        if grant == "authorization_code":
            code = form.get("code", "")
            pending = state.codes.pop(code, None)
            if pending is None:
                raise _oauth_error(400, "invalid_grant", "Malformed auth code.")
            if form.get("redirect_uri") != pending.redirect_uri:
                raise _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            if pending.code_challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise _oauth_error(400, "invalid_grant", "Missing code verifier.")
                if state.s256(verifier) != pending.code_challenge:
                    raise _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            account = state.accounts[pending.email]
            refresh = state.add_refresh_token(account)  # consent issues a new one; earlier ones stay valid
            out = {"access_token": state.issue_access_token(account.email, ttl), "expires_in": ttl,
                   "token_type": "Bearer", "scope": pending.scope or SCOPES, "refresh_token": refresh}
            if "openid" in pending.scope.split():
                out["id_token"] = _fake_id_token(account.email)
            await fake.send_json(resp, 200, out, oauth=True)
            return
        raise _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    async def userinfo(self, req: Request, resp: Response) -> None:
        fake = self.fake
        auth = req.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        account, problem = fake.state.lookup_token(token)
        email = account.email if account else None
        req.tags.update(rpc="userinfo", email=email)
        fake.stats.record_request(email, "userinfo")
        fake.record("userinfo", req, email, None, None)
        if (fault := fake.faults.take(email, None, "userinfo", kinds=ERROR_KINDS)) is not None:
            fake.stats.faults_fired[str(fault.kind)] += 1
            raise fake.cloudcode.error_fault(fault, None)
        if account is None or problem:
            raise errors.RpcError(401, errors.status_body(
                401, "Request is missing required authentication credential. Expected OAuth 2 access token, login "
                     "cookie or other valid authentication credential. See "
                     "https://developers.google.com/identity/sign-in/web/devconsole-project."))
        given, _, family = account.name.partition(" ")
        await fake.send_json(resp, 200, {
            "id": str(10**20 + zlib.crc32(account.email.encode())), "email": account.email, "verified_email": True,
            "name": account.name, "given_name": given, "family_name": family,
            "picture": "https://lh3.googleusercontent.com/a/fake",
        })

    async def authorize(self, req: Request, resp: Response) -> None:
        fake, state = self.fake, self.fake.state
        q = req.query
        fake.stats.record_request(None, "authorize")
        fake.record("authorize", req, None, None, dict(q))
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != state.client_id or not redirect_uri.startswith(("http://", "https://")):
            await resp.send(400, b"Error 400: invalid_request / invalid_client\n", [("content-type", "text/plain")])
            return
        if q.get("response_type") != "code":
            await resp.send(400, b"Error 400: unsupported_response_type\n", [("content-type", "text/plain")])
            return
        params = {"state": q.get("state", "")}
        if fake.deny_next_login:
            fake.deny_next_login = False
            params["error"] = "access_denied"
        else:
            email = q.get("login_hint") or state.default_login_email or f"user{state.next_id()}@fake.test"
            if email not in state.accounts:
                state.add_account(email)
            challenge = q.get("code_challenge")
            if challenge is not None and q.get("code_challenge_method", "plain") != "S256":
                await resp.send(400, b"Error 400: invalid code_challenge_method\n", [("content-type", "text/plain")])
                return
            params["code"] = state.new_code(email, redirect_uri, challenge, q.get("scope", SCOPES))
            params["scope"] = q.get("scope", SCOPES)
        sep = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + sep + urllib.parse.urlencode(params)
        await resp.send(302, b"", [("location", location), ("content-type", "text/html; charset=UTF-8")])


def _fake_id_token(email: str) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'email': email, 'iss': 'https://accounts.google.com'})}."
