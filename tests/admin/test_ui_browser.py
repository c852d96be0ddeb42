"""The web UI in a real browser: headless Chromium (Debian ``chromium``) driven by ``playwright-core`` from Node
(``tests/admin/ui/ui_test.mjs``), against the daemon's services and HTTP server running in this test's trio loop
(so the test can put a lockout into the real pool). What the clicks changed is then checked through the API.

The tools are installed here when missing (``apt-get install chromium``, ``npm ci``), idempotently; the test
skips with the reason when they cannot be installed (no root, no network, no Node).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from antigravityd.outcomes import Failure, FailureKind
from antigravityd.store import AccountDraft, ModelQuota, QuotaSnapshot
from tests.admin.harness import request_row
from tests.admin.inproc import in_process_daemon
from tests.support.daemon import TEST_API_KEY

UI_DIR = Path(__file__).with_name("ui")
SCRIPT = UI_DIR / "ui_test.mjs"
INSTALL_TIMEOUT = 900


def _install_chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                       timeout=INSTALL_TIMEOUT, check=False)
        if not shutil.which("chromium"):
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=INSTALL_TIMEOUT,
                           check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                           timeout=INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shutil.which("chromium")


def _install_playwright(npm: str) -> str | None:
    """None when playwright-core is importable from tests/admin/ui, else why it is not."""
    if (UI_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        return None
    command = [npm, "ci" if (UI_DIR / "package-lock.json").exists() else "install", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(command, cwd=UI_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"npm failed: {e}"
    if done.returncode != 0:
        return f"npm failed: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def browser_tools() -> dict[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed for the browser test")
    chromium = _install_chromium()
    if chromium is None:
        pytest.skip("Debian chromium is not installed and could not be installed (needs root and apt)")
    problem = _install_playwright(npm)
    if problem:
        pytest.skip(f"playwright-core could not be installed: {problem}")
    return {"node": node, "chromium": chromium}


async def seed(services) -> dict:
    now = datetime.now(UTC)
    quota = QuotaSnapshot({"gemini-3-flash": ModelQuota(0.42, now + timedelta(hours=2)),
                           "claude-sonnet-4-6": ModelQuota(0.9, now + timedelta(hours=30))}, tier="g1-ultra-tier")
    seeded = {}
    for name, tier in (("alice", "g1-ultra-tier"), ("bob", "g1-pro-tier")):
        result = await services.repo.upsert_account(AccountDraft(
            email=f"{name}@example.com", refresh_token=f"1//ui-{name}-refresh", access_token=f"ya29.ui-{name}-access",
            expires_at=time.time() + 86400, project_id=f"proj-{name}", project_source="upstream", tier=tier,
            quota=quota if name == "alice" else None))
        seeded[name] = {"id": result.account.id, "email": result.account.email}
    await services.registry.reload()
    alice = type("A", (), {"id": seeded["alice"]["id"], "email": seeded["alice"]["email"]})
    await services.repo.insert_requests([request_row(account=alice, model=m, status=s)
                                         for m, s in (("gemini-3-flash", 200), ("claude-sonnet-4-6", 429))])
    # A lockout in the real pool, as the pipeline would leave after a 429.
    services.pool.report_failure(seeded["bob"]["id"], Failure(FailureKind.RATE_LIMITED, retry_after=600),
                                 model="gemini-3-flash", now=trio.current_time(), wall=time.time())
    return seeded


async def test_ui_in_chromium(browser_tools, tmp_path):
    async with in_process_daemon(tmp_path / "data") as d:
        seeded = await seed(d.services)
        env = {**os.environ, "DAEMON_URL": d.url, "API_KEY": TEST_API_KEY, "CHROMIUM": browser_tools["chromium"],
               "SEEDED": json.dumps(seeded), "HOME": str(tmp_path)}
        with trio.fail_after(240):
            done = await trio.run_process([browser_tools["node"], str(SCRIPT)], env=env, capture_stdout=True,
                                          capture_stderr=True, check=False)
        out, err = done.stdout.decode(), done.stderr.decode()
        assert done.returncode == 0, f"{err}\n{out}"
        seen = json.loads(out.strip().splitlines()[-1])

        assert seen["steps"][-1] == "done"
        assert seen["dashboardTotal"] == "2"
        assert seen["aliceMeters"] == 2 and seen["aliceFlash"] == "42"
        assert seen["aliceCountdown"].startswith("resets in 1h") and seen["aliceTier"] == "ultra"
        assert seen["bobLockedBadge"] == 1
        assert seen["configShowsKey"] is False
        assert "gemini-3-flash" in seen["mappingTest"] and "exact" in seen["mappingTest"]
        assert seen["monitorRows"] == 2

        helpers = seen["helpers"]
        assert helpers["jsonStrings"] == ["1//a", "1//b"]
        assert helpers["jsonObjects"] == ["1//c", "1//d"]
        assert helpers["freeText"] == ["1//e", "1//f"]
        assert helpers["brokenJson"] == ["1//g", "1//h"]
        assert helpers["rfc3339"] == {"text": "resets in 2h 30m", "cls": "later"}
        assert helpers["epoch"] == {"text": "resets in 10m 0s", "cls": "soon"}
        assert helpers["past"] == "reset due"
        assert helpers["far"] == {"text": "resets in 3d 2h", "cls": "far"}
        summary = helpers["summary"]
        assert summary["tiers"] == {"ultra-business": 0, "ultra": 1, "pro": 1, "free": 0, "unknown": 1}
        assert summary["avg"] == {"gemini": 55, "claude": 10, "image": 50}  # (80 + (40+20)/2) / 2
        assert summary["low"] == 1
        assert helpers["hours"] == [0] * 22 + [5, 0]

        # What the clicks changed, read back through the API.
        bob = (await d.http.get(f"/api/accounts/{seeded['bob']['id']}")).json()
        assert bob["proxy_disabled"] is True and bob["proxy_disabled_reason"] == "browser test reason"
        assert bob["lockouts"] == []
        assert d.services.pool.get(seeded["bob"]["id"]).usable is False
        tombstones = {m["key"]: m for m in (await d.http.get("/api/mappings?include_deleted=1")).json()["mappings"]}
        assert tombstones["ui-test-model"]["deleted"] is True  # added, then removed, through the editor
