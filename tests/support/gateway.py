"""The whole system for end-to-end tests: the fake upstream (a separate process, controlled over its HTTP
control API) and the real daemon pointed at it, with accounts imported through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.daemon import Daemon, start_daemon, write_config
from tests.support.process import terminate

ROOT = Path(__file__).resolve().parent.parent.parent


class FakeProcess:
    """``python -m tests.fake_upstream`` in its own process (so synchronous SDK clients can be used in tests)."""

    def __init__(self, workdir: Path, seed: Mapping[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        seed_file = workdir / "fake-seed.json"
        seed_file.write_text(json.dumps(seed))
        self.log = (workdir / "fake.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--seed-file", str(seed_file)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline()  # the fake prints one JSON line once it listens
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"fake upstream did not start: {(workdir / 'fake.log').read_text()}")
        self.info = json.loads(line)
        self.http = httpx.Client(base_url=self.info["root_url"] + "/_fake", timeout=30)

    @property
    def accounts(self) -> list[dict]:
        return self.info["accounts"]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, path, json=body)
        r.raise_for_status()
        return r.json()

    def inject(self, kind: str, *, account: str | None = None, model: str | None = None, times: int = 1,
               rpcs: list[str] | None = None, **params: Any) -> dict:
        return self.control("POST", "/faults", {"kind": kind, "account": account, "model": model, "times": times,
                                                "rpcs": rpcs, "params": params})

    def stats(self) -> dict:
        return self.control("GET", "/stats")

    def requests(self, rpc: str | None = None, limit: int = 1000) -> list[dict]:
        query = f"?limit={limit}" + (f"&rpc={rpc}" if rpc else "")
        return self.control("GET", "/requests" + query)

    def close(self) -> None:
        self.http.close()
        terminate(self.proc)
        self.log.close()


@dataclass
class Gateway:
    fake: FakeProcess
    daemon: Daemon
    workdir: Path

    @property
    def url(self) -> str:
        return self.daemon.url

    @property
    def api_key(self) -> str:
        return self.daemon.api_key

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "antigravityd", "--config", str(self.workdir / "daemon.toml"),
                               *args], capture_output=True, text=True, input=input, timeout=60, check=False)

    def close(self) -> None:
        self.daemon.close()
        self.fake.close()


def upstream_settings(info: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "upstream.base_urls": [info["base_url"]],
        "oauth.client_id": info["client_id"],
        "oauth.client_secret": info["client_secret"],
        "oauth.token_url": info["token_url"],
        "oauth.userinfo_url": info["userinfo_url"],
        "oauth.auth_url": info["auth_url"],
    }


def start_gateway(workdir: Path, *, accounts: list[dict] | None = None, settings: Mapping[str, Any] | None = None,
                  strict: Mapping[str, Any] | None = None, behaviour: Mapping[str, Any] | None = None,
                  import_accounts: bool = True) -> Gateway:
    """Fake upstream with ``accounts`` (default: two), the daemon configured against it, accounts imported."""
    accounts = accounts if accounts is not None else [{"email": "alice@fake.test"}, {"email": "bob@fake.test"}]
    fake = FakeProcess(workdir / "fake", {"accounts": accounts, "strict": strict or {}, "behaviour": behaviour or {}})
    try:
        values = {**upstream_settings(fake.info), **(settings or {})}
        if import_accounts:
            # Import before the daemon starts, through the same CLI an operator uses, on the same store.
            config = write_config(workdir / "daemon.toml", {"data_dir": str(workdir / "daemon" / "data"), **values})
            seed = workdir / "accounts.json"
            seed.write_text(json.dumps([{"email": a["email"], "refresh_token": a["refresh_token"]}
                                        for a in fake.accounts]))
            out = subprocess.run([sys.executable, "-m", "antigravityd", "--config", str(config), "accounts",
                                  "import", str(seed)], capture_output=True, text=True, timeout=60, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"account import failed: {out.stdout}\n{out.stderr}")
        daemon = start_daemon(workdir / "daemon", settings=values)
    except BaseException:
        fake.close()
        raise
    gateway = Gateway(fake, daemon, workdir)
    # The CLI helper uses the daemon's own config file.
    (workdir / "daemon.toml").write_text((workdir / "daemon" / "daemon.toml").read_text())
    return gateway
