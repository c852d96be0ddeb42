"""Credentials, quotas and whole-account upserts: units of work shared by both backends.

Tokens are encrypted/decrypted here, inside the worker thread, so plaintext tokens never cross into SQL and the
trio loop never runs a cipher.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from antigravityd.store import ops_accounts as acc
from antigravityd.store import validate as v
from antigravityd.store.crypto import KeyFileError, TokenCipher
from antigravityd.store.errors import NotFound, ValidationError
from antigravityd.store.models import Account, AccountDraft, Credentials, EventKind, ModelQuota, QuotaSnapshot
from antigravityd.store.tx import Json, Tx

KEY_CHECK_SETTING = "store.token_key_check"
KEY_CHECK_TEXT = "antigravityd token key check"
PROJECT_SOURCES = ("upstream", "fallback")


class UpsertResult(NamedTuple):
    account: Account
    created: bool
    changed: tuple[str, ...]  # names of the fields an update changed; empty = nothing to do


def _epoch(value: float | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise ValidationError("expires_at must be epoch seconds")
    return datetime.fromtimestamp(value, UTC)


def credentials_from_row(tx: Tx, row: Any, cipher: TokenCipher) -> Credentials:
    expires = tx.d.dt(row["expires_at"])
    return Credentials(
        account_id=str(row["account_id"]),
        refresh_token=cipher.decrypt(row["refresh_token"]),
        access_token=None if row["access_token"] is None else cipher.decrypt(row["access_token"]),
        expires_at=None if expires is None else expires.timestamp(),
        project_id=row["project_id"],
        project_source=row["project_source"],
    )


_TOKEN_COLUMNS = "account_id, refresh_token, access_token, expires_at, project_id, project_source"


def get_credentials(tx: Tx, account_id: str, cipher: TokenCipher, *, lock: bool = False) -> Credentials:
    account_id = v.account_id(account_id)
    row = tx.one(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE account_id = :id" + (tx.d.for_update if lock else ""),
                 id=account_id)
    if row is None:
        raise NotFound(f"no credentials for account {account_id}")
    return credentials_from_row(tx, row, cipher)


def all_credentials(tx: Tx, cipher: TokenCipher) -> dict[str, Credentials]:
    return {str(r["account_id"]): credentials_from_row(tx, r, cipher)
            for r in tx.all(f"SELECT {_TOKEN_COLUMNS} FROM tokens")}


def _insert_tokens(tx: Tx, account_id: str, cipher: TokenCipher, *, refresh: str, access: str | None,
                   expires_at: float | None, project_id: str | None, source: str | None) -> None:
    tx.run(
        f"INSERT INTO tokens ({_TOKEN_COLUMNS}, updated_at) VALUES "
        "(:account_id, :refresh, :access, :expires_at, :project_id, :source, :now)",
        account_id=account_id, refresh=cipher.encrypt(refresh),
        access=None if access is None else cipher.encrypt(access), expires_at=_epoch(expires_at),
        project_id=project_id, source=source, now=tx.now,
    )


def update_credentials(tx: Tx, cipher: TokenCipher, account_id: str, *, access_token: str, expires_at: float,
                       refresh_token: str | None) -> Credentials:
    """Store a refreshed access token; keep a rotated refresh token in the same transaction (seed bug #3)."""
    account = acc.get(tx, account_id, lock=True)
    access_token = v.token(access_token, "access token")
    expires = _epoch(expires_at)
    old = get_credentials(tx, account.id, cipher, lock=True)
    rotated = refresh_token is not None and v.token(refresh_token) != old.refresh_token
    tx.run(
        "UPDATE tokens SET access_token = :access, expires_at = :expires, updated_at = :now"
        + (", refresh_token = :refresh" if rotated else "") + " WHERE account_id = :id",
        id=account.id, access=cipher.encrypt(access_token), expires=expires, now=tx.now,
        **({"refresh": cipher.encrypt(refresh_token)} if rotated else {}),
    )
    acc.event(tx, account, EventKind.TOKEN_REFRESHED, {"expires_at": expires.isoformat()})
    if rotated:
        acc.event(tx, account, EventKind.REFRESH_TOKEN_ROTATED)
    return get_credentials(tx, account.id, cipher)


def update_project(tx: Tx, account_id: str, project_id: str | None, source: str | None) -> None:
    account = acc.get(tx, account_id, lock=True)
    project_id = v.text(project_id, "project id")
    if source is not None and source not in PROJECT_SOURCES:
        raise ValidationError(f"project source must be one of {PROJECT_SOURCES}")
    if project_id is None:
        source = None
    row = tx.one("SELECT project_id, project_source FROM tokens WHERE account_id = :id" + tx.d.for_update,
                 id=account.id)
    if row is None:
        raise NotFound(f"no credentials for account {account.id}")
    if (row["project_id"], row["project_source"]) == (project_id, source):
        return
    tx.run("UPDATE tokens SET project_id = :p, project_source = :s, updated_at = :now WHERE account_id = :id",
           p=project_id, s=source, now=tx.now, id=account.id)
    acc.event(tx, account, EventKind.UPDATED,
              {"fields": ["project_id"], "project_id": project_id, "project_source": source})


# ---------------------------------------------------------------------------------------------------- quotas


def quota_from_row(tx: Tx, row: Any) -> QuotaSnapshot:
    models = {}
    for name, q in (tx.d.json(row["models"]) or {}).items():
        reset = q.get("reset_time")
        models[name] = ModelQuota(q.get("remaining_fraction"), datetime.fromisoformat(reset) if reset else None)
    return QuotaSnapshot(models=models, forbidden=bool(row["forbidden"]), tier=row["tier"],
                         fetched_at=tx.d.dt(row["fetched_at"]))


def get_quota(tx: Tx, account_id: str) -> QuotaSnapshot | None:
    row = tx.one("SELECT forbidden, tier, models, fetched_at FROM quotas WHERE account_id = :id",
                 id=v.account_id(account_id))
    return None if row is None else quota_from_row(tx, row)


def all_quotas(tx: Tx) -> dict[str, QuotaSnapshot]:
    return {str(r["account_id"]): quota_from_row(tx, r)
            for r in tx.all("SELECT account_id, forbidden, tier, models, fetched_at FROM quotas")}


def _write_quota(tx: Tx, account: Account, snapshot: QuotaSnapshot) -> Account:
    models = {name: {"remaining_fraction": q.remaining_fraction,
                     "reset_time": q.reset_time.isoformat() if q.reset_time else None}
              for name, q in snapshot.models.items()}
    tx.run(
        "INSERT INTO quotas (account_id, forbidden, tier, models, fetched_at) VALUES (:id, :f, :tier, :m, :at) "
        "ON CONFLICT (account_id) DO UPDATE SET forbidden = excluded.forbidden, tier = excluded.tier, "
        "models = excluded.models, fetched_at = excluded.fetched_at",
        id=account.id, f=snapshot.forbidden, tier=snapshot.tier, m=Json(models), at=snapshot.fetched_at,
    )
    if snapshot.tier and snapshot.tier != account.tier:
        tx.run("UPDATE accounts SET tier = :tier, updated_at = :now WHERE id = :id",
               tier=snapshot.tier, now=tx.now, id=account.id)
    acc.event(tx, account, EventKind.QUOTA_UPDATED,
              {"forbidden": snapshot.forbidden, "models": len(snapshot.models), "tier": snapshot.tier})
    return acc.get(tx, account.id)


def update_quota(tx: Tx, account_id: str, snapshot: QuotaSnapshot, protected: frozenset[str] | None) -> Account:
    account = acc.get(tx, account_id, lock=True)
    account = _write_quota(tx, account, v.quota(snapshot, tx.now))
    if protected is not None:
        account = acc.set_protected(tx, account, v.model_names(protected))
    return account


def record_rate_limit(tx: Tx, account_id: str, *, model: str | None, reason: str | None,
                      retry_after: float | None) -> None:
    account = acc.get(tx, account_id)
    acc.event(tx, account, EventKind.RATE_LIMITED, {
        "model": v.text(model, "model"),
        "reason": v.reason(reason),
        "retry_after": None if retry_after is None else float(retry_after),
    })


# ---------------------------------------------------------------------------------------------------- upsert


def _draft_fields(d: AccountDraft) -> dict[str, Any]:
    """The account columns a draft sets, validated; absent (None) fields are left out."""
    fields: dict[str, Any] = {
        "name": v.text(d.name, "name"),
        "tier": v.text(d.tier, "tier"),
        "proxy_url": v.proxy_url(d.proxy_url),
        "protected_models": None if d.protected_models is None else v.model_names(d.protected_models),
        "created_at": v.aware(d.created_at, "created_at"),
        "last_used_at": v.aware(d.last_used_at, "last_used_at"),
    }
    if d.disabled is not None:
        fields |= {"disabled": d.disabled, "disabled_reason": v.reason(d.disabled_reason) if d.disabled else None,
                   "disabled_at": v.aware(d.disabled_at, "disabled_at") if d.disabled else None}
    if d.proxy_disabled is not None:
        fields |= {"proxy_disabled": d.proxy_disabled,
                   "proxy_disabled_reason": v.reason(d.proxy_disabled_reason) if d.proxy_disabled else None,
                   "proxy_disabled_at": v.aware(d.proxy_disabled_at, "proxy_disabled_at") if d.proxy_disabled
                   else None}
    return {k: val for k, val in fields.items() if val is not None or k.endswith(("_reason", "_at"))}


def upsert(tx: Tx, draft: AccountDraft, cipher: TokenCipher, *, create_only: bool = False) -> UpsertResult:
    email = v.email(draft.email)
    refresh = v.token(draft.refresh_token)
    access = None if draft.access_token is None else v.token(draft.access_token, "access token")
    if draft.project_source is not None and draft.project_source not in PROJECT_SOURCES:
        raise ValidationError(f"project source must be one of {PROJECT_SOURCES}")
    project_id = v.text(draft.project_id, "project id")
    fields = _draft_fields(draft)
    quota = None if draft.quota is None else v.quota(draft.quota, tx.now)
    existing = acc.get_by_email(tx, email, lock=True)
    if existing is None or create_only:
        wanted_id = None if draft.id is None else v.account_id(draft.id)
        account = acc.insert(tx, account_id=wanted_id, email=email, **fields)
        _insert_tokens(tx, account.id, cipher, refresh=refresh, access=access,
                       expires_at=draft.expires_at if access else None, project_id=project_id,
                       source=(draft.project_source or "upstream") if project_id else None)
        acc.event(tx, account, EventKind.CREATED)
        if quota is not None:
            account = _write_quota(tx, account, quota)
        return UpsertResult(account, True, ())

    changed: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "created_at" or (name.endswith("_at") and name != "last_used_at"):
            continue  # history is kept; flag times follow the flags below
        current = getattr(existing, name)
        if name == "last_used_at":
            if value is not None and (current is None or value > current):
                changed[name] = value
        elif value != current:
            changed[name] = value
    if "disabled" in changed or "disabled_reason" in changed:
        changed["disabled_at"] = fields["disabled_at"] or (tx.now if fields["disabled"] else None)
    if "proxy_disabled" in changed or "proxy_disabled_reason" in changed:
        changed["proxy_disabled_at"] = fields["proxy_disabled_at"] or (tx.now if fields["proxy_disabled"] else None)

    token_changes: list[str] = []
    old = get_credentials(tx, existing.id, cipher, lock=True)
    if refresh != old.refresh_token:
        tx.run("UPDATE tokens SET refresh_token = :r, updated_at = :now WHERE account_id = :id",
               r=cipher.encrypt(refresh), now=tx.now, id=existing.id)
        token_changes.append("refresh_token")
    if access is not None and (access != old.access_token or draft.expires_at != old.expires_at):
        tx.run("UPDATE tokens SET access_token = :a, expires_at = :e, updated_at = :now WHERE account_id = :id",
               a=cipher.encrypt(access), e=_epoch(draft.expires_at), now=tx.now, id=existing.id)
        token_changes.append("access_token")
    source = (draft.project_source or "upstream") if project_id else None
    if project_id is not None and (project_id, source) != (old.project_id, old.project_source):
        tx.run("UPDATE tokens SET project_id = :p, project_source = :s, updated_at = :now WHERE account_id = :id",
               p=project_id, s=source, now=tx.now, id=existing.id)
        token_changes.append("project_id")

    current_quota = None if quota is None else get_quota(tx, existing.id)
    # fetched_at alone does not make a different quota (an import without timestamps stamps "now" each run)
    quota_changed = quota is not None and (current_quota is None or (quota.models, quota.forbidden, quota.tier) != (
        current_quota.models, current_quota.forbidden, current_quota.tier))
    names = tuple(sorted({n.removesuffix("_at") if n.endswith("disabled_at") else n for n in changed})
                  + token_changes + (["quota"] if quota_changed else []))
    account = existing
    if changed:
        if "protected_models" in changed:
            changed["protected_models"] = Json(sorted(changed["protected_models"]))
        if "proxy_url" in changed:
            changed["proxy_url"] = acc.seal(tx, changed["proxy_url"])
        assignments = ", ".join(f"{c} = :{c}" for c in changed)
        tx.run(f"UPDATE accounts SET {assignments}, updated_at = :now WHERE id = :account_id",
               account_id=existing.id, now=tx.now, **changed)
    if names:
        acc.event(tx, existing, EventKind.UPDATED, {"fields": list(names), "operation": "upsert"})
    if quota_changed:
        _write_quota(tx, existing, quota)
    if changed or quota_changed:
        account = acc.get(tx, existing.id)
    return UpsertResult(account, False, names)


# ---------------------------------------------------------------------------------------------------- keys


def check_key(tx: Tx, cipher: TokenCipher) -> None:
    """Refuse a key that cannot read what is stored, before anything is encrypted with it."""
    row = tx.one("SELECT value FROM app_settings WHERE key = :k", k=KEY_CHECK_SETTING)
    if row is None:
        tx.run("INSERT INTO app_settings (key, value, updated_at) VALUES (:k, :v, :now) ON CONFLICT (key) DO NOTHING",
               k=KEY_CHECK_SETTING, v=Json(cipher.encrypt(KEY_CHECK_TEXT)), now=tx.now)
        return
    try:
        ok = cipher.decrypt(tx.d.json(row["value"])) == KEY_CHECK_TEXT
    except KeyFileError:
        ok = False
    if not ok:
        raise KeyFileError(
            f"the token key in {cipher.path} is not the key this database's tokens were encrypted with; "
            "restore the original key file (or, to start over, delete the accounts and re-import them)"
        )


def reencrypt_all(tx: Tx, cipher: TokenCipher) -> int:
    """Re-encrypt every stored secret (tokens, proxy URLs) with the cipher's first key, in this one transaction."""
    rows = tx.all("SELECT account_id, refresh_token, access_token FROM tokens" + tx.d.for_update)
    for r in rows:
        tx.run("UPDATE tokens SET refresh_token = :r, access_token = :a WHERE account_id = :id",
               r=cipher.reencrypt(r["refresh_token"]),
               a=None if r["access_token"] is None else cipher.reencrypt(r["access_token"]), id=str(r["account_id"]))
    proxies = tx.all("SELECT id, proxy_url FROM accounts WHERE proxy_url IS NOT NULL" + tx.d.for_update)
    for r in proxies:
        tx.run("UPDATE accounts SET proxy_url = :p WHERE id = :id", p=cipher.reencrypt(r["proxy_url"]), id=str(r["id"]))
    tx.run("UPDATE app_settings SET value = :v, updated_at = :now WHERE key = :k",
           k=KEY_CHECK_SETTING, v=Json(cipher.encrypt(KEY_CHECK_TEXT)), now=tx.now)
    return len(rows)
