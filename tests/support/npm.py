"""Install a client CLI from the npm registry for an end-to-end test (once per machine, into a cache dir), or
report why it cannot be installed so the test can skip with that reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("ANTIGRAVITYD_TEST_CACHE", Path.home() / ".cache" / "antigravityd-tests"))


def npm_tool(package: str, binary: str, *, timeout: float = 600) -> tuple[Path | None, str]:
    """(path of the installed binary, "") or (None, why it is unavailable)."""
    if shutil.which("npm") is None:
        return None, "npm is not installed"
    prefix = CACHE / ("npm-" + package.strip("@").replace("/", "-"))
    bin_path = prefix / "node_modules" / ".bin" / binary
    if bin_path.exists():
        return bin_path, ""
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), package],
                             capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"npm install {package} timed out"
    if out.returncode != 0 or not bin_path.exists():
        return None, f"npm install {package} failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}"
    return bin_path, ""
