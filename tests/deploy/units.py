"""Helpers to check systemd unit files offline with ``systemd-analyze`` (no systemd as PID 1 needed).

``systemd-analyze verify`` exits 0 on unknown keys and only warns on stderr, and it fails when an
``ExecStart=`` binary does not exist. So units are staged into a directory with the release root rewritten
to a scratch tree of real executables, and *any* output counts as a failure.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.deploy.sandbox import unit_settings

__all__ = ["exec_binaries", "repo_units", "seconds", "security_score", "stage", "unit_settings", "verify_output"]

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "systemd"
RELEASE_ROOT = "/opt/antigravityd"
COLOURS = ("blue", "green")


def repo_units() -> dict[str, str]:
    """Every unit file and drop-in under systemd/, keyed by its path relative to that directory."""
    return {
        str(p.relative_to(UNIT_DIR)): p.read_text()
        for p in sorted(UNIT_DIR.rglob("*"))
        if p.is_file() and (p.suffix in (".socket", ".service") or p.suffix == ".conf")
    }


def stage(units: Mapping[str, str], dest: Path, exec_paths: list[str] = ()) -> list[Path]:
    """Write ``units`` to ``dest`` with every ExecStart binary made real; return the unit paths to verify.

    A release path under /opt/antigravityd is rewritten into ``dest/root``; other absolute ExecStart
    binaries (``exec_paths``, e.g. Nix store paths of a rendered module) are created under ``dest/root`` too
    and rewritten the same way. Template units are verified through their blue and green instances.
    """
    root = dest / "root"
    unit_dir = dest / "units"
    unit_dir.mkdir(parents=True, exist_ok=True)
    rewrites = {RELEASE_ROOT + "/": str(root) + "/"}
    for path in exec_paths:
        rewrites[path] = str(root) + path
    to_verify: list[Path] = []
    for name, original in units.items():
        text = original
        for old, new in rewrites.items():
            text = text.replace(old, new)
        for binary in exec_binaries(text):
            for instance in COLOURS if "%i" in binary else ("",):
                _make_executable(Path(binary.replace("%i", instance)), root)
        target = unit_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if name.endswith(".conf"):
            continue
        if name.endswith("@.service"):
            for colour in COLOURS:
                link = unit_dir / name.replace("@.", f"@{colour}.")
                link.unlink(missing_ok=True)
                link.symlink_to(target.name)
                to_verify.append(link)
        else:
            to_verify.append(target)
    return to_verify


def exec_binaries(unit_text: str) -> list[str]:
    """The program of every Exec*= line (prefixes like ``-``, ``+``, ``!``, ``@`` stripped)."""
    found = []
    for m in re.finditer(r"^Exec\w+=\s*(\S+)", unit_text, re.MULTILINE):
        found.append(m.group(1).lstrip("-+!@:"))
    return found


def _make_executable(path: Path, root: Path) -> None:
    """Create a stub program, but only inside the scratch tree: binaries elsewhere are checked as they are."""
    if not path.is_relative_to(root):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def verify_output(paths: list[Path]) -> str:
    """Everything systemd-analyze verify said (plus a note on a non-zero exit); empty means clean."""
    result = verify(paths)
    out = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        out += f"\n(exit status {result.returncode})"
    return out.strip()


def security_score(path: Path) -> float:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout + result.stderr)
    if m is None:
        raise AssertionError(f"no exposure score in systemd-analyze output:\n{result.stdout}{result.stderr}")
    return float(m.group(1))


def seconds(value: str) -> float:
    """A systemd time span such as ``45s``, ``1min 30s`` or ``2m`` in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "": 1}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total
