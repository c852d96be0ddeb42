"""Offline evaluation of the Nix files with ``nix-instantiate`` (Debian's nix-bin; no store, no network)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.deploy.units import REPO

EVAL_MODULE = Path(__file__).with_name("nix") / "eval-module.nix"


def nix_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return sorted(p for p in REPO.rglob("*.nix") if not skip & set(p.relative_to(REPO).parts))


def parse(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)


def eval_json(expr_file: Path | None = None, *, expr: str | None = None, **argstr: str) -> Any:
    cmd = ["nix-instantiate", "--eval", "--strict", "--json"]
    cmd += ["-E", expr] if expr is not None else [str(expr_file)]
    for name, value in argstr.items():
        cmd += ["--argstr", name, value]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    if result.returncode != 0:
        raise AssertionError(f"nix-instantiate failed:\n{result.stderr}")
    return json.loads(result.stdout)


def eval_module(overrides: dict[str, Any], host_name: str = "agd-test",
                data_dir: str = "/var/lib/postgresql/15") -> dict[str, Any]:
    """nix/module.nix evaluated with stub lib/pkgs: ``{defaults, cfg, settings, config, postgres}``."""
    return eval_json(EVAL_MODULE, overrides=json.dumps(overrides), hostName=host_name, dataDir=data_dir)
