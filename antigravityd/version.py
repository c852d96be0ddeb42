"""Version and build identification for ``/version`` and ``antigravityd version``."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from antigravityd import __version__

__all__ = ["__version__", "git_revision"]


@functools.cache
def git_revision() -> str | None:
    """The build's git revision: ``$ANTIGRAVITY_GIT_REV`` (set by packaging), else ``git`` in a source checkout."""
    if rev := os.environ.get("ANTIGRAVITY_GIT_REV"):
        return rev
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=2, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
