"""Settings, model mappings (LWW), thought signatures and request-log queries, shared by both backends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, get_args

from antigravityd.store import validate as v
from antigravityd.store.errors import ValidationError
from antigravityd.store.models import (
    ModelMapping,
    RequestRecord,
    SignatureKind,
    SignatureRecord,
    StatsDimension,
    StatsRow,
    TokenTotals,
)
from antigravityd.store.tx import Json, Tx, dumps

RESERVED_SETTING_PREFIX = "store."  # the repository's own bookkeeping (key check); not user settings
MAX_SETTING_BYTES = 256 * 1024
MAX_SIGNATURE = 64 * 1024
MAX_RECENT = 1000

# ---------------------------------------------------------------------------------------------------- settings


def _setting_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 128 or key.startswith(RESERVED_SETTING_PREFIX):
        raise ValidationError(f"bad setting key {str(key)[:64]!r}")
    return key


def get_setting(tx: Tx, key: str) -> tuple[bool, Any]:
    row = tx.one("SELECT value FROM app_settings WHERE key = :k", k=_setting_key(key))
    return (False, None) if row is None else (True, tx.d.json(row["value"]))


def all_settings(tx: Tx) -> dict[str, Any]:
    rows = tx.all("SELECT key, value FROM app_settings WHERE key NOT LIKE 'store.%' ORDER BY key")
    return {r["key"]: tx.d.json(r["value"]) for r in rows}


def set_setting(tx: Tx, key: str, value: Any) -> None:
    try:
        size = len(dumps(value))
    except TypeError as e:
        raise ValidationError(f"setting {key!r} is not JSON: {e}") from None
    if size > MAX_SETTING_BYTES:
        raise ValidationError(f"setting {key!r} is larger than {MAX_SETTING_BYTES} bytes")
    tx.run("INSERT INTO app_settings (key, value, updated_at) VALUES (:k, :v, :now) "
           "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
           k=_setting_key(key), v=Json(value), now=tx.now)


# ---------------------------------------------------------------------------------------------------- mappings


def _mapping(row: Any) -> ModelMapping:
    return ModelMapping(row["key"], row["target"], int(row["updated_at"]), bool(row["deleted"]))


def _get_mapping(tx: Tx, key: str) -> ModelMapping | None:
    row = tx.one("SELECT key, target, updated_at, deleted FROM model_mappings WHERE key = :k" + tx.d.for_update, k=key)
    return None if row is None else _mapping(row)


def _put_mapping(tx: Tx, m: ModelMapping) -> None:
    tx.run("INSERT INTO model_mappings (key, target, updated_at, deleted) VALUES (:k, :t, :u, :d) "
           "ON CONFLICT (key) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at, "
           "deleted = excluded.deleted", k=m.key, t=m.target, u=m.updated_at, d=m.deleted)


def _check_mapping(m: ModelMapping) -> ModelMapping:
    key = v.text(m.key, "mapping key")
    target = "" if m.deleted else v.text(m.target, "mapping target")
    if not key or (not m.deleted and not target):
        raise ValidationError("a mapping needs a key and, unless deleted, a target")
    if not isinstance(m.updated_at, int) or isinstance(m.updated_at, bool) or not 0 <= m.updated_at < 2**53:
        raise ValidationError("mapping updated_at must be epoch milliseconds")
    return ModelMapping(key, target or "", m.updated_at, bool(m.deleted))


def write_local_mapping(tx: Tx, key: str, target: str | None, updated_at: int | None) -> ModelMapping:
    """A local edit (set, or delete when ``target`` is None): stamped now, and always after what is stored, so a
    local edit wins locally even if this machine's clock is behind the entry it replaces."""
    current = _get_mapping(tx, v.text(key, "mapping key") or "")
    stamp = updated_at if updated_at is not None else int(tx.now.timestamp() * 1000)
    if current is not None and updated_at is None:
        stamp = max(stamp, current.updated_at + 1)
    m = _check_mapping(ModelMapping(key, target or "", stamp, target is None))
    _put_mapping(tx, m)
    return m


def list_mappings(tx: Tx, since: int | None, include_deleted: bool) -> list[ModelMapping]:
    where = ["1 = 1"]
    if since is not None:
        where.append("updated_at > :since")
    if not include_deleted:
        where.append("deleted = false")
    rows = tx.all(f"SELECT key, target, updated_at, deleted FROM model_mappings WHERE {' AND '.join(where)} "
                  "ORDER BY key", since=since)
    return [_mapping(r) for r in rows]


def merge_mappings(tx: Tx, remote: Iterable[ModelMapping]) -> list[ModelMapping]:
    """Apply the remote entries that win under LWW; return those applied."""
    best: dict[str, ModelMapping] = {}
    for entry in remote:
        m = _check_mapping(entry)
        if m.beats(best.get(m.key)):
            best[m.key] = m
    applied = []
    for key in sorted(best):
        if best[key].beats(_get_mapping(tx, key)):
            _put_mapping(tx, best[key])
            applied.append(best[key])
    return applied


# ---------------------------------------------------------------------------------------------------- signatures


def _kind(kind: str) -> str:
    if kind not in get_args(SignatureKind):
        raise ValidationError(f"signature kind must be one of {get_args(SignatureKind)}")
    return kind


def put_signature(tx: Tx, kind: str, key: str, signature: str, model_family: str) -> None:
    if not isinstance(signature, str) or not signature or len(signature) > MAX_SIGNATURE:
        raise ValidationError(f"signature must be a non-empty string of at most {MAX_SIGNATURE} characters")
    tx.run("INSERT INTO signatures (kind, key, signature, model_family, created_at, last_used_at) "
           "VALUES (:kind, :key, :sig, :family, :now, :now) ON CONFLICT (kind, key) DO UPDATE SET "
           "signature = excluded.signature, model_family = excluded.model_family, last_used_at = excluded.last_used_at",
           kind=_kind(kind), key=v.text(key, "signature key"), sig=signature,
           family=v.text(model_family, "model family") or "", now=tx.now)


def put_signatures(tx: Tx, records: list[tuple[str, str, str, str]]) -> None:
    """Several ``(kind, key, signature, model_family)`` in one transaction (the cache writes them in batches)."""
    for kind, key, signature, family in records:
        put_signature(tx, kind, key, signature, family)


def get_signature(tx: Tx, kind: str, key: str) -> SignatureRecord | None:
    """Read and mark as used (the TTL counts from the last use)."""
    row = tx.one("UPDATE signatures SET last_used_at = :now WHERE kind = :kind AND key = :key "
                 "RETURNING kind, key, signature, model_family, created_at, last_used_at",
                 kind=_kind(kind), key=v.text(key, "signature key"), now=tx.now)
    if row is None:
        return None
    return SignatureRecord(row["kind"], row["key"], row["signature"], row["model_family"], tx.d.dt(row["created_at"]),
                           tx.d.dt(row["last_used_at"]))


def purge_signatures(tx: Tx, kind: str, older_than: datetime) -> int:
    return tx.run("DELETE FROM signatures WHERE kind = :kind AND last_used_at < :cutoff",
                  kind=_kind(kind), cutoff=v.aware(older_than, "older_than"))


# ---------------------------------------------------------------------------------------------------- requests

REQUEST_COLUMNS = ("request_id, ts, account_id, account_email, dialect, path, requested_model, mapped_model, status, "
                   "error_class, tokens_in, tokens_out, tokens_cached, tokens_thinking, latency_ms, ttfb_ms, stream")


def request_from_row(tx: Tx, r: Any) -> RequestRecord:
    return RequestRecord(
        request_id=r["request_id"], ts=tx.d.dt(r["ts"]), dialect=r["dialect"], path=r["path"], status=r["status"],
        requested_model=r["requested_model"], mapped_model=r["mapped_model"],
        account_id=None if r["account_id"] is None else str(r["account_id"]), account_email=r["account_email"],
        error_class=r["error_class"], tokens_in=r["tokens_in"], tokens_out=r["tokens_out"],
        tokens_cached=r["tokens_cached"], tokens_thinking=r["tokens_thinking"], latency_ms=r["latency_ms"],
        ttfb_ms=r["ttfb_ms"], stream=bool(r["stream"]),
    )


def recent_requests(tx: Tx, *, limit: int, before: tuple[datetime, str] | None, since: datetime | None,
                    account_id: str | None, model: str | None, dialect: str | None,
                    errors_only: bool) -> list[RequestRecord]:
    """Newest first. Page on with ``before`` = (ts, request_id) of the last row of the previous page."""
    if not 1 <= limit <= MAX_RECENT:
        raise ValidationError(f"limit must be within 1..{MAX_RECENT}")
    where, params = ["1 = 1"], {}
    if before is not None:
        # "ts <= b_ts" first, so the ts index bounds the scan; the OR only breaks ties within one timestamp
        where.append("ts <= :b_ts AND (ts < :b_ts OR request_id < :b_id)")
        params |= {"b_ts": v.aware(before[0], "before"), "b_id": str(before[1])}
    if since is not None:
        where.append("ts >= :since")
        params["since"] = v.aware(since, "since")
    if account_id is not None:
        where.append("account_id = :account_id")
        params["account_id"] = v.account_id(account_id)
    if model is not None:
        where.append("mapped_model = :model")
        params["model"] = model
    if dialect is not None:
        where.append("dialect = :dialect")
        params["dialect"] = dialect
    if errors_only:
        where.append("status >= 400")
    rows = tx.all(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE {' AND '.join(where)} "
                  f"ORDER BY ts DESC, request_id DESC LIMIT {int(limit)}", **params)
    return [request_from_row(tx, r) for r in rows]


_SUMS = ("SUM(requests) AS requests, SUM(errors) AS errors, SUM(tokens_in) AS tokens_in, "
         "SUM(tokens_out) AS tokens_out, SUM(tokens_cached) AS tokens_cached, "
         "SUM(tokens_thinking) AS tokens_thinking, SUM(latency_ms_sum) AS latency_ms_sum")


def _window(since: datetime, until: datetime | None) -> tuple[str, dict[str, Any]]:
    """Rollup rows are whole hours: the hour containing ``since`` is included, hours from ``until`` on are not."""
    since = v.aware(since, "since").replace(minute=0, second=0, microsecond=0)
    if until is None:
        return "hour >= :since", {"since": since}
    return "hour >= :since AND hour < :until", {"since": since, "until": v.aware(until, "until")}


def _breakdown_window(by: str, since: datetime, until: datetime | None, now: datetime) -> tuple[str, dict[str, Any]]:
    """Whole days from the daily rollup, the partial days at both ends from the hourly one."""
    since = v.aware(since, "since").replace(minute=0, second=0, microsecond=0)
    until = v.aware(until, "until") if until is not None else None
    first_day = since.replace(hour=0)
    if first_day < since:
        first_day += timedelta(days=1)
    last_day = (until or now).replace(hour=0, minute=0, second=0, microsecond=0)
    params: dict[str, Any] = {"since": since, "until": until, "d0": first_day, "d1": last_day}
    end = " AND hour < :until" if until is not None else ""
    if first_day >= last_day:  # less than one whole day: hours only
        return f"dim = '{by}' AND hour >= :since{end}", params
    return (f"((dim = '{by}_day' AND hour >= :d0 AND hour < :d1) OR (dim = '{by}' AND ((hour >= :since AND "
            f"hour < :d0) OR (hour >= :d1{end}))))"), params


def request_stats(tx: Tx, by: StatsDimension, since: datetime, until: datetime | None) -> list[StatsRow]:
    """Totals per hour, day, model or account over [since, until), from the hourly rollup (whole hours)."""
    where, params = _window(since, until)
    if by in ("hour", "day"):
        bucket = tx.d.trunc(by, "hour")
        sql = (f"SELECT {bucket} AS bucket, '' AS label, {_SUMS} FROM request_rollup WHERE dim = 'total' "
               f"AND {where} GROUP BY {bucket} ORDER BY {bucket}")
    elif by in ("model", "account"):
        where, params = _breakdown_window(by, since, until, tx.now)
        sql = f"SELECT key AS bucket, MAX(label) AS label, {_SUMS} FROM request_rollup WHERE {where} GROUP BY key"
    else:
        raise ValidationError("stats dimension must be hour, day, model or account")
    rows = []
    for r in tx.all(sql, **params):
        start = tx.d.dt(r["bucket"]) if by in ("hour", "day") else None
        key = start.isoformat() if start else str(r["bucket"])
        label = r["label"] or ("" if by == "account" else key)
        rows.append(StatsRow(key=key, label=label, start=start, requests=int(r["requests"]),
                             errors=int(r["errors"]), tokens_in=int(r["tokens_in"]), tokens_out=int(r["tokens_out"]),
                             tokens_cached=int(r["tokens_cached"]), tokens_thinking=int(r["tokens_thinking"]),
                             latency_ms_sum=int(r["latency_ms_sum"])))
    if by in ("model", "account"):
        rows.sort(key=lambda s: (-s.requests, s.key))
    return rows


def token_totals(tx: Tx, since: datetime, until: datetime | None) -> TokenTotals:
    where, params = _window(since, until)
    r = tx.one(f"SELECT {_SUMS} FROM request_rollup WHERE dim = 'total' AND {where}", **params)
    return TokenTotals(*(int(r[c] or 0) for c in ("requests", "errors", "tokens_in", "tokens_out", "tokens_cached",
                                                  "tokens_thinking")))

