"""What a release is built from: the wheel (venv releases) and the Nix package both come from pyproject.toml's
explicit package list, so a package missing there is missing from every real install (the editable install
of the development venv hides it)."""

from __future__ import annotations

import tomllib

from tests.deploy.units import REPO


def test_the_wheel_ships_every_package() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(setuptools["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "antigravityd").rglob("__init__.py")}
    assert found - declared == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    mapped = setuptools.get("package-dir", {})
    assert all((REPO / path).is_dir() for path in mapped.values())
