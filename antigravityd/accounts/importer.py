"""Import accounts into the store from what users already have.

Accepted inputs (``import_path`` detects which):

1. the upstream tool's data directory (``~/.antigravity_tools``): ``accounts.json`` (the index) plus
   ``accounts/<id>.json`` per account (format: seed-features §7.4) — or just that ``accounts/`` directory, or one
   account file. Everything it records is migrated: the original id (when it is a UUID not used here), tokens,
   expiry, project, name, tier, flags with reasons and times, protected models, proxy URL, created/last-used
   times and the quota. Unknown fields are ignored. Disabled accounts are imported *as disabled*.
2. a JSON export: ``[{"email", "refresh_token"}, ...]``, ``{"accounts": [...]}`` of the same, or a list of
   refresh-token strings;
3. any other text: every ``1//…`` refresh token found in it.

Tokens without an email need an OAuth userinfo lookup (``lookup_email``); without one those entries are skipped
with the reason. Import is idempotent (upsert by email): a second run reports ``unchanged``. Within one import the
first occurrence of an email wins and later ones are reported as duplicates. A corrupt or invalid file is
reported and skipped; it never stops the rest of the import.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import trio

from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot, Repository, ValidationError
from antigravityd.store import validate as v

__all__ = ["EmailLookup", "EmailLookupUnavailable", "ImportItem", "ImportReport", "import_path", "no_email_lookup"]

Outcome = Literal["created", "updated", "unchanged", "skipped", "error"]
# Refresh token → its account's email, or (email, refresh token to store) when looking it up made Google rotate
# the token (the old one may be retired already).
EmailLookup = Callable[[str], Awaitable["str | tuple[str, str]"]]
MAX_FILE_BYTES = 16 * 1024 * 1024
DEFAULT_FALLBACK_PROJECT = "bamboo-precept-lgxtn"
_REFRESH_TOKEN = re.compile(r"1//[0-9A-Za-z_\-]{10,}")


class EmailLookupUnavailable(Exception):
    """There is no way (yet) to find the email that belongs to a refresh token."""


async def no_email_lookup(refresh_token: str) -> str:
    """The seam for the OAuth userinfo lookup, which the upstream/pipeline issue provides."""
    raise EmailLookupUnavailable("email unknown: looking it up from the refresh token needs the OAuth client, "
                                 "which this build does not have yet")


@dataclass(slots=True)
class ImportItem:
    source: str  # file, or file#index for an entry of a list
    email: str | None
    outcome: Outcome
    reason: str = ""  # why skipped/error, or what was left out (e.g. an invalid quota)


@dataclass(slots=True)
class ImportReport:
    items: list[ImportItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(i.outcome for i in self.items))

    @property
    def ok(self) -> bool:
        return not any(i.outcome == "error" for i in self.items)


@dataclass(slots=True)
class _Candidate:
    source: str
    draft: AccountDraft | None = None
    token: str | None = None  # a bare refresh token that still needs its email
    error: str = ""
    note: str = ""
    skip: str = ""


# ---------------------------------------------------------------------------------------------------- parsing


def _epoch(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise ValueError(f"{what} must be unix seconds")
    return datetime.fromtimestamp(value, UTC)


def _str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value or None


def _quota(raw: Any) -> QuotaSnapshot:
    if not isinstance(raw, dict):
        raise TypeError("quota must be an object")
    models = {}
    entries = raw.get("models") or []
    if not isinstance(entries, list) or len(entries) > v.MAX_MODELS:
        raise ValueError(f"quota.models must be a list of at most {v.MAX_MODELS}")
    for m in entries:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise TypeError("quota.models entries need a name")
        pct = m.get("percentage")
        if pct is not None and (not isinstance(pct, int | float) or isinstance(pct, bool) or not 0 <= pct <= 100):
            raise ValueError(f"quota percentage of {m['name'][:64]} must be 0..100")
        reset = m.get("reset_time") or None
        models[m["name"]] = ModelQuota(None if pct is None else pct / 100,
                                       datetime.fromisoformat(reset) if isinstance(reset, str) else None)
    return QuotaSnapshot(models=models, forbidden=bool(raw.get("is_forbidden", False)),
                         tier=_str(raw, "subscription_tier"),
                         fetched_at=_epoch(raw.get("last_updated"), "last_updated"))


def _upstream_account(data: Any, source: str, fallback_project: str) -> _Candidate:
    """One ``accounts/<id>.json`` of the upstream tool → a draft (required: email and token.refresh_token)."""
    if not isinstance(data, dict):
        return _Candidate(source, error="not a JSON object")
    token = data.get("token")
    if not isinstance(token, dict) or not isinstance(token.get("refresh_token"), str):
        return _Candidate(source, error="token.refresh_token is missing")
    if not isinstance(data.get("email"), str):
        return _Candidate(source, error="email is missing")
    notes = []
    try:
        project = _str(token, "project_id")
        fields: dict[str, Any] = dict(
            email=data["email"], refresh_token=token["refresh_token"], name=_str(data, "name"),
            id=data.get("id") if v.is_uuid(data.get("id")) else None,
            access_token=_str(token, "access_token"),
            expires_at=(_epoch(token.get("expiry_timestamp"), "token.expiry_timestamp") or None),
            project_id=project, project_source=None if project is None else (
                "fallback" if project == fallback_project else "upstream"),
            disabled=bool(data.get("disabled", False)), disabled_reason=_str(data, "disabled_reason"),
            disabled_at=_epoch(data.get("disabled_at"), "disabled_at"),
            proxy_disabled=bool(data.get("proxy_disabled", False)),
            proxy_disabled_reason=_str(data, "proxy_disabled_reason"),
            proxy_disabled_at=_epoch(data.get("proxy_disabled_at"), "proxy_disabled_at"),
            created_at=_epoch(data.get("created_at"), "created_at"),
            last_used_at=_epoch(data.get("last_used"), "last_used"),
        )
    except ValueError as e:
        return _Candidate(source, error=str(e))
    if fields["expires_at"] is not None:
        fields["expires_at"] = fields["expires_at"].timestamp()
    optional = {
        "proxy_url": lambda: v.proxy_url(data.get("proxy_url")),
        "protected_models": lambda: v.model_names(data.get("protected_models") or []),
        "quota": lambda: None if data.get("quota") is None else v.quota(_quota(data["quota"]), datetime.now(UTC)),
    }
    for name, parse in optional.items():  # a bad optional part is left out, not the whole account
        try:
            fields[name] = parse()
        except (ValueError, TypeError) as e:
            notes.append(f"{name} left out: {e}")
    if fields.get("quota") is not None and fields["quota"].tier:
        fields["tier"] = fields["quota"].tier
    return _Candidate(source, draft=AccountDraft(**fields), note="; ".join(notes))


def _export_entries(data: list, source: str) -> list[_Candidate]:
    out = []
    for i, entry in enumerate(data):
        where = f"{source}#{i}"
        if isinstance(entry, str):
            out.append(_Candidate(where, token=entry))
        elif isinstance(entry, dict) and isinstance(entry.get("refresh_token"), str):
            if isinstance(entry.get("email"), str):
                out.append(_Candidate(where, draft=AccountDraft(email=entry["email"],
                                                                refresh_token=entry["refresh_token"])))
            else:
                out.append(_Candidate(where, token=entry["refresh_token"]))
        else:
            out.append(_Candidate(where, error="entry is neither a token string nor an object with refresh_token"))
    return out


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


def _parse_file(path: Path, fallback_project: str) -> list[_Candidate]:
    source = str(path)
    try:
        raw = _read(path)
    except (OSError, ValueError) as e:
        return [_Candidate(source, error=f"cannot read: {e}")]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if raw.lstrip()[:1] in (b"{", b"["):
            return [_Candidate(source, error="corrupt JSON")]
        tokens = list(dict.fromkeys(_REFRESH_TOKEN.findall(raw.decode("utf-8", "replace"))))
        if not tokens:
            return [_Candidate(source, skip="no JSON and no 1//… refresh token in it")]
        return [_Candidate(f"{source}#{i}", token=t) for i, t in enumerate(tokens)]
    if isinstance(data, dict) and "token" in data:
        return [_upstream_account(data, source, fallback_project)]
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        entries = data["accounts"]
        if entries and all(isinstance(e, dict) and "refresh_token" not in e for e in entries):
            return [_Candidate(source, error="this is an accounts.json index: import its directory instead")]
        return _export_entries(entries, source)
    if isinstance(data, list):
        return _export_entries(data, source)
    return [_Candidate(source, error="unrecognised JSON: expected an account file, an export list or an index")]


def _parse_data_dir(root: Path, fallback_project: str) -> list[_Candidate]:
    """accounts.json order first, then account files it does not list (sorted)."""
    accounts_dir = root / "accounts" if (root / "accounts").is_dir() else root
    out: list[_Candidate] = []
    ordered: list[Path] = []
    index = root / "accounts.json"
    if index.is_file():
        entries = _index_entries(index)
        if isinstance(entries, str):
            out.append(_Candidate(str(index), error=f"index unreadable ({entries}); the account files are imported"))
            entries = []
        for entry in entries:
            account_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(account_id, str) or "/" in account_id or account_id.startswith("."):
                out.append(_Candidate(str(index), error=f"index entry without a usable id: {str(entry)[:80]}"))
                continue
            path = accounts_dir / f"{account_id}.json"
            if path.is_file():
                ordered.append(path)
            else:
                out.append(_Candidate(str(path), skip="listed in accounts.json but the file is missing"))
    listed = set(ordered)
    ordered += sorted(p for p in accounts_dir.glob("*.json") if p not in listed and p != index)
    for path in ordered:
        out.extend(_parse_file(path, fallback_project))
    return out


def _index_entries(index: Path) -> list | str:
    """The entries of accounts.json, or a description of why there are none."""
    try:
        data = orjson.loads(_read(index))
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        return str(e)
    entries = data.get("accounts") if isinstance(data, dict) else None
    return entries if isinstance(entries, list) else "no accounts list"


def collect(path: Path, fallback_project: str = DEFAULT_FALLBACK_PROJECT) -> list[_Candidate]:
    """Blocking: read and parse everything under ``path`` into candidates (no database access)."""
    path = path.expanduser()
    if path.is_dir():
        if not (path / "accounts.json").is_file() and not any(path.glob("*.json")) and not (
                path / "accounts").is_dir():
            return [_Candidate(str(path), error="no accounts.json, accounts/ or *.json here")]
        return _parse_data_dir(path, fallback_project)
    if not path.exists():
        return [_Candidate(str(path), error="no such file or directory")]
    return _parse_file(path, fallback_project)


# ---------------------------------------------------------------------------------------------------- importing


async def import_path(
    repo: Repository,
    path: Path,
    *,
    lookup_email: EmailLookup = no_email_lookup,
    progress: Callable[[int, int], None] | None = None,
    fallback_project: str = DEFAULT_FALLBACK_PROJECT,
) -> ImportReport:
    """Import everything found at ``path``; StoreUnavailable aborts (re-running is safe)."""
    candidates = await trio.to_thread.run_sync(collect, Path(path), fallback_project)
    report = ImportReport()
    seen: dict[str, str] = {}  # email → source that imported it
    for done, c in enumerate(candidates, 1):
        report.items.append(await _import_one(repo, c, seen, lookup_email))
        if progress is not None:
            progress(done, len(candidates))
    return report


async def _import_one(repo: Repository, c: _Candidate, seen: dict[str, str], lookup_email: EmailLookup) -> ImportItem:
    if c.error:
        return ImportItem(c.source, None, "error", c.error)
    if c.skip:
        return ImportItem(c.source, None, "skipped", c.skip)
    draft = c.draft
    if draft is None:
        try:
            found = await lookup_email(v.token(c.token))
            email, token = found if isinstance(found, tuple) else (found, c.token)
            draft = AccountDraft(email=email, refresh_token=token)
        except (EmailLookupUnavailable, ValidationError) as e:
            return ImportItem(c.source, None, "skipped", str(e))
    try:
        email = v.email(draft.email)
    except ValidationError as e:
        return ImportItem(c.source, None, "error", str(e))
    if email in seen:
        return ImportItem(c.source, email, "skipped", f"duplicate email (already imported from {seen[email]})")
    try:
        result = await repo.upsert_account(draft)
    except ValidationError as e:
        return ImportItem(c.source, email, "error", str(e))
    seen[email] = c.source
    outcome: Outcome = "created" if result.created else ("updated" if result.changed else "unchanged")
    reason = c.note
    if result.changed:
        reason = "; ".join(filter(None, ["changed: " + ", ".join(result.changed), c.note]))
    return ImportItem(c.source, email, outcome, reason)
