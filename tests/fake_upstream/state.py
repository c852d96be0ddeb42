"""What the fake Google knows: accounts, refresh/access tokens, per-(account, model) quota, issued thought
signatures, onboarding operations and pending authorization codes.

One :class:`FakeState` may be served by several listeners (``run_fake_upstream(state=...)``) to emulate the
sandbox / daily / prod hosts of one backend: tokens and quota are shared, faults and counters are per host.
Wall-clock times (token expiry, quota reset) come from ``state.now`` so tests can move time.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import DEFAULT_DEPRECATED, DEFAULT_WEB_SEARCH_MODELS, ModelSpec, model_table

AUTO = object()  # "generate a project id" (vs None: the account has not been onboarded)
SENTINELS = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})
QUOTA_WINDOW = 5 * 3600.0
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


@dataclass
class Quota:
    limit: int
    used: int = 0
    reset_at: float = 0.0

    def remaining_fraction(self) -> float:
        return max(0.0, 1.0 - self.used / self.limit) if self.limit > 0 else 0.0


@dataclass
class Account:
    email: str
    refresh_token: str  # the current one (what a client should hold)
    tier: str = "standard-tier"
    project: str | None = None
    paid_tier: str | None = None
    ineligible_tiers: list[dict] = field(default_factory=list)
    allowed_tiers: list[str] = field(default_factory=list)
    credits: str | None = None  # paidTier.availableCredits[0].creditAmount, e.g. "25000"
    name: str = ""
    onboard_polls: int = 2  # onboardUser answers done:false this many times before done:true
    rotate_refresh_every: int | None = None  # every Nth refresh grant issues a new refresh token
    models: dict[str, ModelSpec] = field(default_factory=dict)
    quotas: dict[str, Quota] = field(default_factory=dict)
    refresh_grants: int = 0
    access_token: str = ""  # the most recently issued access token (convenience for tests)

    def to_json(self) -> dict:
        return {"email": self.email, "refresh_token": self.refresh_token, "access_token": self.access_token,
                "tier": self.tier, "project": self.project, "models": sorted(self.models)}


@dataclass
class AccessToken:
    email: str
    expires_at: float


@dataclass
class Operation:
    name: str
    email: str
    polls_left: int
    tier: str


@dataclass
class PendingCode:
    email: str
    redirect_uri: str
    code_challenge: str | None
    scope: str


@dataclass
class IssuedSignature:
    family: str  # "gemini" | "claude"
    model: str


class FakeState:
    def __init__(self, *, seed: int = 0, now: Callable[[], float] = time.time,
                 client_id: str = "fake-client-id.apps.googleusercontent.com",
                 client_secret: str = "fake-client-secret") -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts: dict[str, Account] = {}
        self.refresh_tokens: dict[str, str] = {}  # valid refresh token -> email
        self.access_tokens: dict[str, AccessToken] = {}
        self.signatures: dict[str, IssuedSignature] = {}
        self.operations: dict[str, Operation] = {}
        self.codes: dict[str, PendingCode] = {}
        self.deprecated: dict[str, str] = dict(DEFAULT_DEPRECATED)
        self.web_search_models: list[str] = list(DEFAULT_WEB_SEARCH_MODELS)
        self.default_login_email: str | None = None
        self._counter = itertools.count(1)

    # ---------------------------------------------------------------------------------------------- ids

    def next_id(self) -> int:
        return next(self._counter)

    def token_hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def base62(self, n: int) -> str:
        return "".join(self.rng.choice(BASE62) for _ in range(n))

    def base64url(self, n: int) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))

    # ---------------------------------------------------------------------------------------------- accounts

    def add_account(self, email: str, *, refresh_token: str | None = None, tier: str = "standard-tier",
                    project: object = AUTO, paid_tier: str | None = None, models: object = None,
                    ineligible_tiers: list[dict] | None = None, allowed_tiers: list[str] | None = None,
                    credits: str | None = None, onboard_polls: int = 2, rotate_refresh_every: int | None = None,
                    name: str | None = None, quota_limit: int | None = None) -> Account:
        if email in self.accounts:
            raise ValueError(f"account {email} exists")
        n = self.next_id()
        table = model_table(models)
        if quota_limit is not None:
            table = {k: v.with_(quota_limit=quota_limit) for k, v in table.items()}
        account = Account(
            email=email,
            refresh_token=refresh_token or f"1//fake-refresh-{n}-{self.token_hex(16)}",
            tier=tier,
            project=f"fake-project-{n}-{self.token_hex(6)}" if project is AUTO else project,  # type: ignore[arg-type]
            paid_tier=paid_tier,
            ineligible_tiers=list(ineligible_tiers or []),
            allowed_tiers=list(allowed_tiers or [tier]),
            credits=credits,
            name=name if name is not None else email.split("@", maxsplit=1)[0].replace(".", " ").title(),
            onboard_polls=onboard_polls,
            rotate_refresh_every=rotate_refresh_every,
            models=table,
        )
        self.accounts[email] = account
        self.refresh_tokens[account.refresh_token] = email
        account.access_token = self.issue_access_token(email)
        return account

    def account_for_refresh(self, refresh_token: str) -> Account | None:
        email = self.refresh_tokens.get(refresh_token)
        return self.accounts.get(email) if email else None

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (→ invalid_grant) and every access token of its account."""
        email = self.refresh_tokens.pop(refresh_token, None)
        if email is not None:
            for token, info in list(self.access_tokens.items()):
                if info.email == email:
                    del self.access_tokens[token]

    def rotate_refresh_token(self, account: Account) -> str:
        self.refresh_tokens.pop(account.refresh_token, None)
        account.refresh_token = f"1//fake-refresh-{self.next_id()}-{self.token_hex(16)}"
        self.refresh_tokens[account.refresh_token] = account.email
        return account.refresh_token

    def add_refresh_token(self, account: Account) -> str:
        account.refresh_token = f"1//fake-refresh-{self.next_id()}-{self.token_hex(16)}"
        self.refresh_tokens[account.refresh_token] = account.email
        return account.refresh_token

    def issue_access_token(self, email: str, ttl: float = 3599) -> str:
        token = f"ya29.fake-{self.next_id()}-{self.token_hex(24)}"
        self.access_tokens[token] = AccessToken(email, self.now() + ttl)
        self.accounts[email].access_token = token
        return token

    def expire_access_tokens(self, email: str | None = None) -> None:
        for info in self.access_tokens.values():
            if email is None or info.email == email:
                info.expires_at = 0.0

    def lookup_token(self, token: str) -> tuple[Account | None, str]:
        """(account, problem): problem is "" when valid, else the ErrorInfo reason for the 401."""
        info = self.access_tokens.get(token)
        if info is None:
            return None, "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        if info.expires_at <= self.now():
            return self.accounts.get(info.email), "ACCESS_TOKEN_EXPIRED"
        return self.accounts.get(info.email), ""

    def resolve_account(self, key: str) -> str:
        """An email, or an access/refresh token of an account → that account's email (else ``key`` unchanged)."""
        if key in self.accounts:
            return key
        if key in self.access_tokens:
            return self.access_tokens[key].email
        return self.refresh_tokens.get(key, key)

    # ---------------------------------------------------------------------------------------------- quota

    def quota(self, account: Account, model: ModelSpec) -> Quota:
        q = account.quotas.get(model.id)
        now = self.now()
        if q is None:
            q = account.quotas[model.id] = Quota(model.quota_limit, 0, now + QUOTA_WINDOW)
        elif q.reset_at <= now:
            q.used, q.reset_at = 0, now + QUOTA_WINDOW
        return q

    def set_quota(self, email: str, model: str, *, remaining_fraction: float | None = None,
                  reset_in: float | None = None, limit: int | None = None) -> Quota:
        account = self.accounts[email]
        q = self.quota(account, account.models[model])
        if limit is not None:
            q.limit = limit
        if remaining_fraction is not None:
            q.used = round(q.limit * (1.0 - remaining_fraction))
        if reset_in is not None:
            q.reset_at = self.now() + reset_in
        return q

    # ---------------------------------------------------------------------------------------------- signatures

    def issue_signature(self, family: str, model: str) -> str:
        """Gemini: base64 of ``0x12 len 0x0a len <payload>`` ("E…"). Claude: base64 of that ("R…", §3.3/§9.4)."""
        payload = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(40, 120)))
        inner = bytes([0x0A, len(payload)]) + payload
        raw = bytes([0x12, len(inner)]) + inner
        e_form = base64.b64encode(raw).decode("ascii")
        if family == "claude":
            r_form = base64.b64encode(e_form.encode("ascii")).decode("ascii")
            self.signatures[r_form] = IssuedSignature("claude", model)
            return r_form
        self.signatures[e_form] = IssuedSignature("gemini", model)
        return e_form

    def signature_family(self, signature: str, *, accept_e_form: bool = True) -> str | None:
        """"gemini", "claude", "sentinel" or None (never issued here)."""
        if signature in SENTINELS:
            return "sentinel"
        issued = self.signatures.get(signature)
        if issued is not None:
            return issued.family
        if accept_e_form:
            r_form = base64.b64encode(signature.encode("ascii", "replace")).decode("ascii")
            if (hit := self.signatures.get(r_form)) is not None and hit.family == "claude":
                return "claude"
        return None

    # ---------------------------------------------------------------------------------------------- OAuth codes

    def new_code(self, email: str, redirect_uri: str, code_challenge: str | None, scope: str) -> str:
        code = f"4/fake-code-{self.next_id()}-{secrets.token_hex(8)}"
        self.codes[code] = PendingCode(email, redirect_uri, code_challenge, scope)
        return code

    @staticmethod
    def s256(verifier: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
