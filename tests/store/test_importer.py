"""Account import from the upstream tool's files and from exports: the documented result for every fixture."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from antigravityd.accounts.importer import import_path

FIXTURES = Path(__file__).parent / "fixtures"
TOOLS = FIXTURES / "antigravity_tools"
FULL_ID = "3f1c2a9e-5b7d-4c1e-9a8f-0d2b6e4c7a11"


def outcomes(report) -> dict[str, tuple[str, str]]:
    return {Path(i.source.split("#")[0]).stem + ("#" + i.source.split("#")[1] if "#" in i.source else ""):
            (i.outcome, i.reason) for i in report.items}


async def test_upstream_data_dir(repo):
    seen = []
    report = await import_path(repo, TOOLS, progress=lambda done, total: seen.append((done, total)))
    got = outcomes(report)
    assert got[FULL_ID][0] == "created"
    assert got["8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"] == ("created", "")  # optional fields missing: fine
    assert got["b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"] == ("error", "corrupt JSON")
    assert got["c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f"][0] == "skipped"
    assert "duplicate email" in got["c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f"][1]
    assert got["d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80"] == ("skipped", "listed in accounts.json but the file is missing")
    assert got["e5f6a7b8-c9d0-4e1f-8a3b-4c5d6e7f8091"] == ("error", "token.refresh_token is missing")
    unlisted = got["f6a7b8c9-d0e1-4f2a-9b4c-5d6e7f8091a2"]
    assert unlisted[0] == "created" and "quota left out" in unlisted[1]
    assert report.counts() == {"created": 3, "error": 2, "skipped": 2}
    assert not report.ok
    assert seen[-1] == (7, 7) and [d for d, _ in seen] == list(range(1, 8))

    full = await repo.get_account(FULL_ID)  # the original id is kept
    assert full.email == "full.user@example.com" and full.name == "Full User" and full.tier == "g1-ultra-tier"
    assert full.proxy_disabled and full.proxy_disabled_reason == "phone_verification_required"
    assert full.proxy_disabled_at == datetime.fromtimestamp(1705000000, UTC)
    assert full.protected_models == {"claude-sonnet-4-6"}
    assert full.proxy_url == "socks5h://alice:s3cret@127.0.0.1:1080"
    assert full.created_at == datetime.fromtimestamp(1700000000, UTC)
    assert full.last_used_at == datetime.fromtimestamp(1710000000, UTC)
    creds = await repo.get_credentials(FULL_ID)
    assert (creds.refresh_token, creds.access_token, creds.expires_at, creds.project_id, creds.project_source) == (
        "1//0gFAKE-refresh-full", "ya29.FAKE-access-full", 1900000000, "real-project-123", "upstream")
    quota = await repo.get_quota(FULL_ID)
    assert quota.models["claude-sonnet-4-6"].remaining_fraction == 0.07
    assert quota.models["claude-sonnet-4-6"].reset_time == datetime(2030, 1, 1, 5, tzinfo=UTC)
    assert quota.models["gemini-3-flash"].reset_time is None
    assert quota.fetched_at == datetime.fromtimestamp(1710000500, UTC)

    legacy = await repo.get_account_by_email("unlisted@example.com")  # "legacy-7" is no UUID: a new id
    assert legacy.id != "legacy-7" and legacy.disabled and legacy.disabled_reason.startswith("invalid_grant")
    assert (await repo.get_credentials(legacy.id)).project_source == "fallback"
    assert await repo.get_quota(legacy.id) is None


async def test_reimport_is_idempotent(repo):
    await import_path(repo, TOOLS)
    events_before = await repo.events(limit=1000)
    report = await import_path(repo, TOOLS)
    assert report.counts() == {"unchanged": 3, "error": 2, "skipped": 2}
    assert await repo.events(limit=1000) == events_before  # no event for a no-op


async def test_reimport_after_a_change_updates(repo, tmp_path):
    tools = tmp_path / "tools"
    shutil.copytree(TOOLS, tools)
    await import_path(repo, tools)
    minimal = tools / "accounts" / "8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d.json"
    minimal.write_text(minimal.read_text().replace("1//0gFAKE-refresh-minimal", "1//0gFAKE-refresh-newer"))
    report = await import_path(repo, minimal)
    assert [(i.outcome, i.reason) for i in report.items] == [("updated", "changed: refresh_token")]
    account = await repo.get_account_by_email("minimal@example.com")
    assert (await repo.get_credentials(account.id)).refresh_token == "1//0gFAKE-refresh-newer"


async def test_export_lists_and_free_text(repo):
    export = await import_path(repo, FIXTURES / "export.json")
    assert [(i.outcome, i.email) for i in export.items] == [
        ("created", "export1@example.com"), ("created", "export2@example.com"), ("skipped", None), ("error", None)]
    assert "email unknown" in export.items[2].reason

    wrapped = await import_path(repo, FIXTURES / "export_wrapped.json")
    assert [(i.outcome, i.email) for i in wrapped.items] == [("created", "wrapped@example.com")]

    strings = await import_path(repo, FIXTURES / "strings.json")
    assert [i.outcome for i in strings.items] == ["skipped", "skipped"]  # no email lookup in this build

    async def lookup(token: str) -> str:
        return token.removeprefix("1//0gFAKE-").replace("-", ".") + "@example.com"

    pasted = await import_path(repo, FIXTURES / "pasted.txt", lookup_email=lookup)
    assert [(i.outcome, i.email) for i in pasted.items] == [  # the repeated token appears once
        ("created", "pasted.token.one@example.com"), ("created", "pasted.token.two@example.com")]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", ("skipped", "no JSON and no 1//")),
    (b"\x00\xff\xfe garbage", ("skipped", "no JSON and no 1//")),
    (b"[1, 2", ("error", "corrupt JSON")),
    (b'{"hello": "world"}', ("error", "unrecognised JSON")),
    (b'{"accounts": [{"id": "x", "email": "a@b.c"}]}', ("error", "accounts.json index")),
    (b'{"email": 5, "token": {"refresh_token": "1//x"}}', ("error", "email is missing")),
    (b'{"email": "a@b.c", "token": {"refresh_token": "1//xxxxxxxxxxxx"}, "created_at": "yesterday"}',
     ("error", "created_at must be unix seconds")),
    (b'{"email": "not-an-email", "token": {"refresh_token": "1//xxxxxxxxxxxx"}}', ("error", "not an email")),
])
async def test_bad_files_are_reported_not_fatal(repo, tmp_path, content, expected):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    report = await import_path(repo, path)
    [item] = report.items
    assert item.outcome == expected[0] and expected[1] in item.reason
    assert await repo.list_accounts() == []


async def test_missing_path(repo, tmp_path):
    report = await import_path(repo, tmp_path / "nope")
    assert [(i.outcome, i.reason) for i in report.items] == [("error", "no such file or directory")]
