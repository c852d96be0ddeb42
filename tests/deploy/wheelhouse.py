"""A wheelhouse for ``deploy.sh --build=venv`` that needs no network: the runtime dependencies are packed
back into wheels from this interpreter's own installed distributions (the versions the test suite runs
against). The build backend (setuptools>=68, wheel) is repacked the same way when it is installed here in a
suitable version, else taken from ``$AGD_TEST_WHEELHOUSE`` or from pip's configured *local* sources.

Repacking follows the installed ``RECORD``: every file that lives inside site-packages goes into the wheel
with its dist-info; console scripts (outside site-packages) are left out, pip recreates them from
``entry_points.txt``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as metadata
import io
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import sys_tags

BUILD_REQUIREMENTS = ("setuptools>=68", "wheel")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(pyproject: Path) -> dict[str, metadata.Distribution]:
    """The installed distributions antigravityd needs at run time (with extras such as psycopg[binary])."""
    project = tomllib.loads(pyproject.read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        dist = found.setdefault(name, metadata.distribution(name))
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append(sub)
    return found


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """Write ``dist`` as a wheel into ``dest``; returns its path."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = re.findall(r"^Tag: (\S+)$", wheel_meta, re.MULTILINE) or ["py3-none-any"]
    supported = {str(t) for t in sys_tags()}
    tags = [t for t in tags if t in supported] or tags  # e.g. py2.py3 wheels list py2-none-any first
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    filename = f"{name}-{dist.version}-{tags[0]}.whl"
    info_dir = next(str(f).split("/")[0] for f in dist.files if ".dist-info/" in str(f))
    skip = {f"{info_dir}/RECORD", f"{info_dir}/INSTALLER", f"{info_dir}/REQUESTED", f"{info_dir}/direct_url.json"}
    records: list[list[str]] = []
    path = dest / filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in dist.files or []:
            arcname = str(entry)
            if arcname.startswith("..") or arcname in skip or "__pycache__" in arcname:
                continue
            data = Path(dist.locate_file(entry)).read_bytes()
            zf.writestr(arcname, data)
            records.append(_record_line(arcname, data))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([*records, [f"{info_dir}/RECORD", "", ""]])
        zf.writestr(f"{info_dir}/RECORD", buf.getvalue())
    return path


def local_pip_sources() -> list[str]:
    """pip arguments naming the package sources of pip's configuration that are on this machine."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         check=False).stdout
    args: list[str] = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        for item in value.strip("'\"").split():
            if key.endswith(("index-url", "extra-index-url")) and item.startswith("file://"):
                args += ["--extra-index-url", item]
            elif key.endswith("find-links") and (item.startswith("/") or item.startswith("file://")):
                args += ["--find-links", item]
    return args


def installed_build_backend() -> list[metadata.Distribution] | None:
    """setuptools, wheel and their requirements, if installed here in versions the build accepts."""
    dists = []
    for raw in (*BUILD_REQUIREMENTS, "packaging"):
        req = Requirement(raw)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            return None
        if dist.version not in req.specifier:
            return None
        dists.append(dist)
    return dists


def build(dest: Path, pyproject: Path, extra_sources: list[str] = ()) -> None:
    """Fill ``dest`` with every wheel an offline ``pip wheel`` + ``pip install`` of antigravityd needs.

    Raises RuntimeError when the build backend cannot be found offline.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for dist in runtime_closure(pyproject).values():
        repack(dist, dest)
    if (backend := installed_build_backend()) is not None:
        for dist in backend:
            repack(dist, dest)
        return
    sources = [*(a for s in extra_sources for a in ("--find-links", s)), *local_pip_sources()]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "-d", str(dest),
         "--index-url", f"file://{dest}/nonexistent-index", *sources, *BUILD_REQUIREMENTS],
        capture_output=True, text=True, check=False, timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"no offline source for {BUILD_REQUIREMENTS}: {result.stderr.strip()[-500:]}")
