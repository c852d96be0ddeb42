"""Account units of work, shared by both backends. Each function runs inside one transaction (a :class:`Tx`).

Every lifecycle change writes its ``account_events`` row through :func:`event` in the same transaction, so the
change and its audit record commit or roll back together. Events carry names and reasons, never secrets.

| call | events |
|---|---|
| create (and upsert of a new email) | ``account_created`` (+ ``quota_updated`` when a quota is given) |
| upsert of an existing email | one ``account_updated`` with the names of the changed fields (none if unchanged) |
| update name / proxy | ``account_updated`` {fields: [name]} / ``proxy_changed`` {proxy: redacted URL} |
| delete | ``account_deleted`` {id} (the row survives with account_id NULL) |
| disable / enable | ``account_disabled`` {reason} / ``account_enabled`` (nothing if already in that state) |
| proxy disable / enable | ``account_disabled`` / ``account_enabled`` with {scope: proxy} |
| verification required | ``verification_required`` {detail_url} |
| protected models change | one ``model_protected`` / ``model_unprotected`` {model} per model |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from antigravityd.store import validate as v
from antigravityd.store.errors import Conflict, NotFound
from antigravityd.store.models import Account, AccountEvent, EventKind
from antigravityd.store.tx import Json, Tx

ACCOUNT_COLUMNS = (
    "id, email, name, tier, disabled, disabled_reason, disabled_at, proxy_disabled, proxy_disabled_reason, "
    "proxy_disabled_at, protected_models, proxy_url, created_at, updated_at, last_used_at"
)
MAX_EVENT_PAGE = 1000


def account_from_row(tx: Tx, row: Any) -> Account:
    d = tx.d
    return Account(
        id=str(row["id"]),
        email=row["email"],
        name=row["name"],
        tier=row["tier"],
        disabled=bool(row["disabled"]),
        disabled_reason=row["disabled_reason"],
        disabled_at=d.dt(row["disabled_at"]),
        proxy_disabled=bool(row["proxy_disabled"]),
        proxy_disabled_reason=row["proxy_disabled_reason"],
        proxy_disabled_at=d.dt(row["proxy_disabled_at"]),
        protected_models=frozenset(d.json(row["protected_models"]) or ()),
        proxy_url=open_secret(tx, row["proxy_url"]),
        created_at=d.dt(row["created_at"]),
        updated_at=d.dt(row["updated_at"]),
        last_used_at=d.dt(row["last_used_at"]),
    )


def seal(tx: Tx, value: str | None) -> str | None:
    """Encrypt a secret column value (proxy URLs may carry a password)."""
    return None if value is None else tx.cipher.encrypt(value)


def open_secret(tx: Tx, value: str | None) -> str | None:
    return None if value is None else tx.cipher.decrypt(value)


def event(tx: Tx, account: Account | None, kind: EventKind, details: Mapping[str, Any] | None = None,
          *, email: str | None = None) -> None:
    tx.run(
        "INSERT INTO account_events (account_id, email, kind, details, created_at) "
        "VALUES (:account_id, :email, :kind, :details, :now)",
        account_id=account.id if account else None,
        email=account.email if account else email,
        kind=str(kind),
        details=Json(dict(details or {})),
        now=tx.now,
    )


# ---------------------------------------------------------------------------------------------------- reads


def get(tx: Tx, account_id: str, *, lock: bool = False) -> Account:
    account_id = v.account_id(account_id)
    row = tx.one(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = :id" + (tx.d.for_update if lock else ""),
                 id=account_id)
    if row is None:
        raise NotFound(f"no account with id {account_id}")
    return account_from_row(tx, row)


def get_by_email(tx: Tx, email: str, *, lock: bool = False) -> Account | None:
    row = tx.one(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = :email" + (tx.d.for_update if lock else ""),
                 email=v.email(email))
    return None if row is None else account_from_row(tx, row)


def find(tx: Tx, ref: str) -> Account:
    """By id when ``ref`` is a UUID, else by email (the CLI's ``ID|EMAIL`` arguments)."""
    if v.is_uuid(ref):
        return get(tx, ref)
    if "@" not in ref:
        raise v.ValidationError(f"{ref[:64]!r} is neither an account id (UUID) nor an email")
    account = get_by_email(tx, ref)
    if account is None:
        raise NotFound(f"no account with email {v.email(ref)}")
    return account


def list_all(tx: Tx) -> list[Account]:
    rows = tx.all(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, email")
    return [account_from_row(tx, r) for r in rows]


def events(tx: Tx, *, account_id: str | None, email: str | None, kinds: Iterable[str] | None, limit: int,
           before_id: int | None) -> list[AccountEvent]:
    """Newest first; page on with ``before_id`` = the smallest id of the previous page."""
    if not 1 <= limit <= MAX_EVENT_PAGE:
        raise v.ValidationError(f"limit must be within 1..{MAX_EVENT_PAGE}")
    where, params = ["1 = 1"], {}
    if account_id is not None:
        where.append("account_id = :account_id")
        params["account_id"] = v.account_id(account_id)
    if email is not None:
        where.append("email = :email")
        params["email"] = v.email(email)
    if before_id is not None:
        where.append("id < :before_id")
        params["before_id"] = int(before_id)
    kinds = sorted(set(kinds or ()))
    if kinds:
        names = [f"kind{i}" for i in range(len(kinds))]
        where.append(f"kind IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, kinds, strict=True))
    rows = tx.all(
        "SELECT id, account_id, email, kind, details, created_at FROM account_events "
        f"WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {int(limit)}",
        **params,
    )
    return [
        AccountEvent(int(r["id"]), None if r["account_id"] is None else str(r["account_id"]), r["email"], r["kind"],
                     tx.d.json(r["details"]) or {}, tx.d.dt(r["created_at"]))
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------------- changes


def _set(tx: Tx, account_id: str, **columns: Any) -> None:
    if "proxy_url" in columns:
        columns["proxy_url"] = seal(tx, columns["proxy_url"])
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    params = {c: Json(sorted(val)) if isinstance(val, frozenset) else val for c, val in columns.items()}
    tx.run(f"UPDATE accounts SET {assignments} WHERE id = :account_id", account_id=account_id, **params)


def insert(tx: Tx, *, account_id: str | None, email: str, **fields: Any) -> Account:
    """Insert the accounts row only (credentials are written by the caller in the same transaction)."""
    if account_id is None or tx.one("SELECT 1 AS x FROM accounts WHERE id = :id", id=account_id):
        account_id = str(uuid.uuid4())  # keep an imported id unless another account already has it
    values = {
        "id": account_id, "email": email, "name": None, "tier": None, "disabled": False, "disabled_reason": None,
        "disabled_at": None, "proxy_disabled": False, "proxy_disabled_reason": None, "proxy_disabled_at": None,
        "protected_models": frozenset(), "proxy_url": None, "created_at": tx.now, "updated_at": tx.now,
        "last_used_at": None,
    }
    values.update({k: val for k, val in fields.items() if val is not None})
    values["protected_models"] = Json(sorted(values["protected_models"]))
    values["proxy_url"] = seal(tx, values["proxy_url"])
    if tx.one("SELECT 1 AS x FROM accounts WHERE email = :email", email=email):
        raise Conflict(f"an account with email {email} already exists")
    columns = ", ".join(values)
    tx.run(f"INSERT INTO accounts ({columns}) VALUES ({', '.join(':' + c for c in values)})", **values)
    return get(tx, account_id)


def update_profile(tx: Tx, account_id: str, *, name: str | None = None, proxy_url: str | None = None,
                   set_name: bool = False, set_proxy: bool = False) -> Account:
    account = get(tx, account_id, lock=True)
    if set_name:
        name = v.text(name, "name")
        if name != account.name:
            _set(tx, account.id, name=name, updated_at=tx.now)
            event(tx, account, EventKind.UPDATED, {"fields": ["name"]})
    if set_proxy:
        proxy_url = v.proxy_url(proxy_url)
        if proxy_url != account.proxy_url:
            _set(tx, account.id, proxy_url=proxy_url, updated_at=tx.now)
            event(tx, account, EventKind.PROXY_CHANGED, {"proxy": v.redact_url(proxy_url)})
    return get(tx, account.id)


def delete(tx: Tx, account_id: str) -> None:
    account = get(tx, account_id, lock=True)
    event(tx, account, EventKind.DELETED, {"id": account.id})  # before the delete; the FK then nulls account_id
    tx.run("DELETE FROM accounts WHERE id = :id", id=account.id)


def set_disabled(tx: Tx, account_id: str, disabled: bool, reason: str | None) -> Account:
    account = get(tx, account_id, lock=True)
    reason = v.reason(reason) if disabled else None
    if account.disabled == disabled and account.disabled_reason == reason:
        return account
    _set(tx, account.id, disabled=disabled, disabled_reason=reason, disabled_at=tx.now if disabled else None,
         updated_at=tx.now)
    if disabled:
        event(tx, account, EventKind.DISABLED, {"reason": reason})
    elif account.disabled:
        event(tx, account, EventKind.ENABLED)
    return get(tx, account.id)


def set_proxy_disabled(tx: Tx, account_id: str, disabled: bool, reason: str | None, *,
                       kind: EventKind | None = None, details: Mapping[str, Any] | None = None) -> Account:
    account = get(tx, account_id, lock=True)
    reason = v.reason(reason) if disabled else None
    if account.proxy_disabled == disabled and account.proxy_disabled_reason == reason:
        return account
    _set(tx, account.id, proxy_disabled=disabled, proxy_disabled_reason=reason,
         proxy_disabled_at=tx.now if disabled else None, updated_at=tx.now)
    if kind is not None:
        event(tx, account, kind, details)
    elif disabled:
        event(tx, account, EventKind.DISABLED, {"scope": "proxy", "reason": reason})
    elif account.proxy_disabled:
        event(tx, account, EventKind.ENABLED, {"scope": "proxy"})
    return get(tx, account.id)


def set_protected(tx: Tx, account: Account, models: frozenset[str]) -> Account:
    """Replace the protected-model set, one event per model that entered or left it."""
    if models == account.protected_models:
        return account
    _set(tx, account.id, protected_models=models, updated_at=tx.now)
    for model in sorted(models - account.protected_models):
        event(tx, account, EventKind.MODEL_PROTECTED, {"model": model})
    for model in sorted(account.protected_models - models):
        event(tx, account, EventKind.MODEL_UNPROTECTED, {"model": model})
    return get(tx, account.id)


def mark_used(tx: Tx, usages: Mapping[str, datetime]) -> None:
    """Bump last_used_at (never backwards). No event and no change notification: it moves on every request."""
    for account_id, when in usages.items():
        tx.run(
            "UPDATE accounts SET last_used_at = :when "
            "WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :when)",
            id=v.account_id(account_id), when=v.aware(when, "last used time"),
        )
