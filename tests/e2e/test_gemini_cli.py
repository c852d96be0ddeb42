"""gemini-cli (npm @google/gemini-cli) end to end against the daemon and the fake upstream.

The CLI first makes a JSON-mode "router" call that must get schema-valid JSON (else it retries for ~100 s), then
streams the answer from the model the router picked (stack-notes §8, pitfall 14).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, start_gateway
from tests.support.npm import npm_tool

pytestmark = pytest.mark.slow

GEMINI_CLI_MODELS = ["gemini-3-flash", "gemini-3.1-pro-high", "gemini-3.1-pro-preview", "gemini-3.5-flash-lite",
                     "gemini-3.8-flash", "gemini-2.5-flash", "gemini-2.5-pro"]


@pytest.fixture(scope="module")
def gemini() -> Path:
    path, why = npm_tool("@google/gemini-cli", "gemini")
    if path is None:
        pytest.skip(f"gemini-cli cannot be installed here: {why}")
    return path


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    g = start_gateway(tmp_path, accounts=[{"email": "cli@fake.test", "models": GEMINI_CLI_MODELS}])
    try:
        yield g
    finally:
        g.close()


def test_gemini_cli_prompt(gemini: Path, gateway: Gateway, tmp_path: Path):
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}))
    env = {**os.environ, "HOME": str(home), "GOOGLE_GEMINI_BASE_URL": gateway.url, "GEMINI_API_KEY": gateway.api_key,
           "GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_COLOR": "1"}
    out = subprocess.run([str(gemini), "-p", "say hello from the e2e test"], env=env, cwd=home, capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Echo: say hello from the e2e test" in out.stdout
    calls = [r for r in gateway.fake.requests() if r["rpc"] in ("generateContent", "streamGenerateContent")]
    router = calls[0]["body"]["request"]["generationConfig"]
    assert router.get("responseMimeType") == "application/json"  # the router call got (and accepted) JSON
    assert calls[-1]["rpc"] == "streamGenerateContent"
