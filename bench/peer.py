"""Another gateway measured beside the daemon in the same run (``--peer-command``), against the same fake upstream.

The peer is whatever the command starts — e.g. a Node Antigravity proxy whose Cloud Code and OAuth URLs were
pointed at the fake; nothing of it lives in this repository. The command is a shell template:

* ``{port}``: the loopback port it must listen on;
* ``{upstream}``: the fake's Cloud Code base URL (``http://127.0.0.1:N/v1internal``);
* ``{fake_info}``: a JSON file holding the fake's start-up line (accounts with refresh tokens and projects,
  the OAuth client).

It must serve Anthropic ``POST /v1/messages`` without a key and keep the process it was started as (``exec``) as
the one doing the work: its CPU time is read from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.net import free_port
from tests.support.process import terminate

__all__ = ["Peer"]


class Peer:
    def __init__(self, command: str, fake_info: dict, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        info_file = workdir / "fake-info.json"
        info_file.write_text(json.dumps(fake_info))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = shlex.split(command.format(port=self.port, upstream=fake_info["base_url"], fake_info=info_file))
        self.log = (workdir / "peer.log").open("wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while True:  # the peer gives no readiness signal of its own: poll its port
            if self.proc.poll() is not None:
                raise RuntimeError(f"peer exited with {self.proc.returncode}; see {workdir / 'peer.log'}")
            try:
                httpx.get(self.url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("peer did not start listening in 30 s") from None
                time.sleep(0.1)

    def pin(self, cpu: int) -> None:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(self.pid)], check=True, capture_output=True)

    def close(self) -> None:
        terminate(self.proc)
        self.log.close()
