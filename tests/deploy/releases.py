"""Source trees for the deploy end-to-end test: copies of this repository, each a git commit of its own (so
every release has its own revision), with small test-only changes.

Every copy gets a streaming route for the restart-under-load test (``GET /e2e/stream``), appended to
``antigravityd/api/builtin.py``. ``with_migration`` adds an additive migration; ``broken`` makes readiness
(``/api/health``) fail while the daemon otherwise serves normally — the build that must not go live.

Until the store's ``antigravityd db migrate`` exists in the tree (``antigravityd/cli/db.py``), a clearly
marked stand-in is added so the units' ``ExecStartPre=… db migrate`` has something to run; it applies the
numbered SQL files of ``migrations/sqlite`` and tolerates versions it does not know, which is the
backward-compatibility rule of docs/runbook.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.deploy.units import REPO

MIGRATION_TABLE = "deploy_e2e_probe"

E2E_ROUTES = '''

# ---- added by tests/deploy/releases.py for the deploy end-to-end test; never in a real release ----
_e2e_register = register


def register(router, **kwargs):  # noqa: F811
    import trio as _trio

    from antigravityd.http.sse import SSE_HEADERS, SSEWriter

    readiness = kwargs.pop("readiness")
    if E2E_BROKEN:
        async def readiness():
            return ["this build is broken on purpose (deploy end-to-end test)"]
    _e2e_register(router, readiness=readiness, **kwargs)

    async def e2e_stream(request):
        n, delay = int(request.query.get("n", "20")), float(request.query.get("delay", "0.02"))
        sse = SSEWriter(await request.stream(200, SSE_HEADERS, "text/event-stream"))
        for i in range(n):
            await sse.send({"i": i})
            await _trio.sleep(delay)
        await sse.send(b"[DONE]")

    router.get("/e2e/stream", e2e_stream)
'''

DB_STANDIN = '''"""STAND-IN for the store's `antigravityd db migrate`, added to deploy-test builds only.

Applies migrations/sqlite/NNNN_*.sql in order to <data_dir>/deploy-standin.sqlite3, recording them in
schema_migrations; versions recorded by a newer release are left alone (backward-compatible migrations).
"""

import argparse
import importlib.resources
import re
import sqlite3

from antigravityd.cli import load_cli_config


def register(sub):
    p = sub.add_parser("db", help="database maintenance (deploy-test stand-in)")
    dsub = p.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("migrate", help="apply migrations").set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    config = load_cli_config(args)
    config.data_path.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(config.data_path / "deploy-standin.sqlite3")
    with db:
        db.execute("create table if not exists schema_migrations (version integer primary key, name text)")
        applied = {row[0] for row in db.execute("select version from schema_migrations")}
        folder = importlib.resources.files("antigravityd.migrations") / "sqlite"
        files = folder.iterdir() if folder.is_dir() else []
        names = sorted(f.name for f in files if re.match(r"\\d+_.*\\.sql$", f.name))
        for name in names:
            version = int(name.split("_", 1)[0])
            if version not in applied:
                db.executescript((folder / name).read_text())
                db.execute("insert into schema_migrations values (?, ?)", (version, name))
                print(f"applied migration {name}")
    print(f"schema up to date ({len(applied)} applied before, {len(names)} known to this release)")
    return 0
'''


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def copy_repo(dest: Path) -> None:
    files = _git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def next_migration_name(folder: Path) -> str:
    numbers = [m.group(1) for p in folder.glob("*.sql") if (m := re.match(r"(\d+)_", p.name))]
    width = max((len(n) for n in numbers), default=4)
    return f"{max((int(n) for n in numbers), default=0) + 1:0{width}d}_{MIGRATION_TABLE}.sql"


def make_source(dest: Path, label: str, *, with_migration: bool = False, broken: bool = False) -> str:
    """Write a source tree to ``dest`` and commit it; returns the revision deploy.sh will report."""
    copy_repo(dest)
    if not (dest / "README.md").exists():
        (dest / "README.md").write_text("# antigravityd (deploy test build)\n")
    pyproject = dest / "pyproject.toml"
    if '"antigravityd.cli"' not in pyproject.read_text():
        # KNOWN GAP in pyproject.toml (tests/deploy/test_packaging.py fails on it): the wheel would have no
        # antigravityd.cli and no release could start. Patched in the test build only, so the rest of the
        # deployment is still exercised; this does nothing once pyproject.toml lists the package.
        text = pyproject.read_text().replace('"antigravityd", ', '"antigravityd", "antigravityd.cli", ', 1)
        pyproject.write_text(text)
    if not (dest / "antigravityd" / "cli" / "db.py").exists():
        (dest / "antigravityd" / "cli" / "db.py").write_text(DB_STANDIN)
    builtin = dest / "antigravityd" / "api" / "builtin.py"
    builtin.write_text(builtin.read_text() + f"\n\nE2E_BROKEN = {broken!r}" + E2E_ROUTES)
    if with_migration:
        sql = f"CREATE TABLE IF NOT EXISTS {MIGRATION_TABLE} (id INTEGER PRIMARY KEY, note TEXT);\n"
        for backend in ("sqlite", "postgres"):
            folder = dest / "migrations" / backend
            folder.mkdir(parents=True, exist_ok=True)
            (folder / next_migration_name(folder)).write_text(sql)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=deploy test", "-c", "user.email=deploy-test@localhost", "commit", "-qm", label)
    return _git(dest, "describe", "--always", "--dirty", "--abbrev=12")
