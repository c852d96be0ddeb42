#!/usr/bin/python3
"""A stand-in for systemd on the deploy test's target host (systemd is not PID 1 on our test machines).

It does what the deployment relies on, for real: it owns the listening socket of ``antigravityd.socket``
(as systemd does) and starts service units from their unit files — ExecStartPre= commands first, then
ExecStart= with the socket as fd 3, ``LISTEN_PID``/``LISTEN_FDS``/``LISTEN_FDNAMES``, a ``NOTIFY_SOCKET``
(``Type=notify``: a start completes at ``READY=1`` and fails if the process exits first or
``TimeoutStartSec=`` passes), ``WATCHDOG_USEC``, ``STATE_DIRECTORY``, ``CREDENTIALS_DIRECTORY`` (copies of the
``LoadCredential=`` files) and the unit's ``Environment=``. Every process runs under the unit's seccomp sandbox
(``sandbox.py``). Stopping sends SIGTERM and waits ``TimeoutStopSec=``, then SIGKILLs. Output goes to a
journal file that the ``journalctl`` stand-in reads. Two instances of a template may run at once on the one
socket: that is the blue/green overlap (stack-notes §2).

Standard library only: it runs under the target's system Python as an unprivileged user. The ``systemctl``
stand-in talks to it over a Unix socket, one JSON request per connection.

Usage: fake_systemd.py ROOT — ROOT holds etc/systemd/system (units), credstore/, state/, run/, journal.jsonl.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX = Path(__file__).with_name("sandbox.py")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = sections.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    scale = {"ms": 1e-3, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "": 1}
    return sum(float(n) * scale[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value))


@dataclass
class Unit:
    name: str
    state: str = "inactive"  # inactive | activating | active | deactivating | failed
    process: subprocess.Popen | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    stopping: bool = False
    watchdog_pings: int = 0
    status: str = ""


class FakeSystemd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.unit_dir = root / "etc" / "systemd" / "system"
        self.run_dir = root / "run"
        self.journal_path = root / "journal.jsonl"
        self.units: dict[str, Unit] = {}
        self.lock = threading.Lock()
        self.journal_lock = threading.Lock()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.socket_name, self.listener = self._open_listener()

    # ------------------------------------------------------------------ the socket unit

    def _open_listener(self) -> tuple[str, socket.socket]:
        conf = parse_unit((self.unit_dir / "antigravityd.socket").read_text())["Socket"]
        host, _, port = conf["ListenStream"][0].rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(int(conf.get("Backlog", ["128"])[0]))
        if sock.fileno() != 3:
            # Children get the socket as fd 3 (pass_fds keeps numbers): make it fd 3 here.
            os.dup2(sock.fileno(), 3)
            sock.close()
            sock = socket.socket(fileno=3)
        os.set_inheritable(3, True)
        return conf.get("FileDescriptorName", ["antigravityd.socket"])[0], sock

    # ------------------------------------------------------------------ journal

    def journal(self, unit: str, pid: int | str, message: str, ident: str = "antigravityd") -> None:
        entry = json.dumps({"ts": time.time(), "unit": unit, "pid": pid, "ident": ident, "msg": message})
        with self.journal_lock, self.journal_path.open("a") as f:
            f.write(entry + "\n")

    def _pump_output(self, unit: Unit, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.journal(unit.name, proc.pid, raw.decode("utf-8", "replace").rstrip("\n"))

    # ------------------------------------------------------------------ unit files

    def unit_file(self, name: str) -> tuple[Path, str]:
        """The file defining ``name`` and the instance (``%i``) for a template."""
        path = self.unit_dir / name
        if path.exists():
            return path, ""
        m = re.fullmatch(r"([^@]+)@([^.]+)(\.service)", name)
        if m and (self.unit_dir / f"{m.group(1)}@{m.group(3)}").exists():
            return self.unit_dir / f"{m.group(1)}@{m.group(3)}", m.group(2)
        raise FileNotFoundError(f"Unit {name} not found.")

    def environment(self, unit: Unit, service: dict[str, list[str]]) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "INVOCATION_ID": os.urandom(16).hex()}
        for item in service.get("Environment", []):
            for assignment in re.findall(r'"([^"]*)"|(\S+)', item):
                key, _, value = (assignment[0] or assignment[1]).partition("=")
                env[key] = value
        for name in service.get("StateDirectory", []):
            state = self.root / "state" / name
            state.mkdir(parents=True, exist_ok=True, mode=0o700)
            env["STATE_DIRECTORY"] = str(state)
        credentials = self.run_dir / "credentials" / unit.name
        if service.get("LoadCredential"):
            credentials.mkdir(parents=True, exist_ok=True, mode=0o700)
            for spec in service["LoadCredential"]:
                cred_id, _, source = spec.partition(":")
                src = Path(source) if source.startswith("/") else self.root / "credstore" / (source or cred_id)
                if src.exists():
                    target = credentials / cred_id
                    target.unlink(missing_ok=True)
                    target.write_bytes(src.read_bytes())
                    target.chmod(0o400)
                elif source.startswith("/"):
                    raise FileNotFoundError(f"LoadCredential={spec}: {src} missing")
            env["CREDENTIALS_DIRECTORY"] = str(credentials)
        if "WatchdogSec" in service:
            env["WATCHDOG_USEC"] = str(int(seconds(service["WatchdogSec"][0]) * 1e6))
        return env

    # ------------------------------------------------------------------ start / stop

    def start(self, name: str) -> tuple[int, str]:
        with self.lock:
            unit = self.units.setdefault(name, Unit(name))
            if unit.state in ("active", "activating"):
                return 0, ""
            unit.state, unit.stopping = "activating", False
            unit.ready.clear()
        try:
            path, instance = self.unit_file(name)
            text = path.read_text().replace("%i", instance)
            service = parse_unit(text)["Service"]
            env = self.environment(unit, service)
        except (OSError, KeyError) as e:
            unit.state = "failed"
            return 1, f"Failed to start {name}: {e}"
        sandbox_unit = self.run_dir / f"{name}.unit"
        sandbox_unit.write_text(text)
        self.journal(name, 1, f"Starting {name}...", ident="systemd")
        timeout = seconds(service.get("TimeoutStartSec", ["90s"])[0])
        deadline = time.monotonic() + timeout
        for command in service.get("ExecStartPre", []):
            proc = self._spawn(unit, command, env, sandbox_unit, socket_activated=False)
            try:
                rc = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -9
            if rc != 0:
                return self._fail(unit, f"ExecStartPre={command} exited with status {rc}")
        notify = self.run_dir / f"notify-{name}.sock"
        notify.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        env = env | {"NOTIFY_SOCKET": str(notify)}
        proc = self._spawn(unit, service["ExecStart"][0], env, sandbox_unit, socket_activated=True)
        unit.process = proc
        env["WATCHDOG_PID"] = str(proc.pid)
        threading.Thread(target=self._notifications, args=(unit, listener), daemon=True).start()
        threading.Thread(target=self._reaper, args=(unit, proc), daemon=True).start()
        while not unit.ready.wait(0.05):
            if proc.poll() is not None:
                return self._fail(unit, f"main process exited with status {proc.returncode} before READY=1")
            if time.monotonic() > deadline:
                self._kill(proc)
                return self._fail(unit, "start operation timed out (no READY=1)")
        unit.state = "active"
        self.journal(name, 1, f"Started {name}.", ident="systemd")
        return 0, ""

    def _spawn(self, unit: Unit, command: str, env: dict[str, str], sandbox_unit: Path,
               socket_activated: bool) -> subprocess.Popen:
        argv = command.split()
        argv[0] = argv[0].lstrip("-+!@")
        wrapped = [sys.executable, str(SANDBOX), str(sandbox_unit), "--", *argv]
        if socket_activated:
            env = env | {"LISTEN_FDS": "1", "LISTEN_FDNAMES": self.socket_name}
            # LISTEN_PID must be the daemon's own pid: set it in the process that then execs the daemon.
            wrapped = ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "sh", *wrapped]
        proc = subprocess.Popen(wrapped, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, pass_fds=(3,) if socket_activated else (),
                                cwd="/", start_new_session=True)
        threading.Thread(target=self._pump_output, args=(unit, proc), daemon=True).start()
        return proc

    def _notifications(self, unit: Unit, listener: socket.socket) -> None:
        with listener:
            listener.settimeout(0.5)
            while unit.process is not None and unit.process.poll() is None:
                try:
                    data = listener.recv(4096).decode()
                except TimeoutError:
                    continue
                for line in data.splitlines():
                    if line == "READY=1":
                        unit.ready.set()
                    elif line == "WATCHDOG=1":
                        unit.watchdog_pings += 1
                    elif line.startswith("STATUS="):
                        unit.status = line[7:]

    def _reaper(self, unit: Unit, proc: subprocess.Popen) -> None:
        rc = proc.wait()
        if unit.process is proc and unit.state in ("active", "deactivating"):
            unit.state = "inactive" if unit.stopping or rc == 0 else "failed"
            if not unit.stopping:
                self.journal(unit.name, 1, f"{unit.name}: main process exited, status={rc}", ident="systemd")

    def _fail(self, unit: Unit, reason: str) -> tuple[int, str]:
        unit.state = "failed"
        self.journal(unit.name, 1, f"{unit.name}: {reason}", ident="systemd")
        self.journal(unit.name, 1, f"Failed to start {unit.name}.", ident="systemd")
        return 1, f"Job for {unit.name} failed: {reason}"

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self, name: str) -> tuple[int, str]:
        unit = self.units.get(name)
        if unit is None or unit.process is None or unit.process.poll() is not None:
            if unit is not None and unit.state != "failed":
                unit.state = "inactive"
            return 0, ""
        path, instance = self.unit_file(name)
        service = parse_unit(path.read_text().replace("%i", instance))["Service"]
        timeout = seconds(service.get("TimeoutStopSec", ["90s"])[0])
        unit.state, unit.stopping = "deactivating", True
        self.journal(name, 1, f"Stopping {name}...", ident="systemd")
        proc = unit.process
        proc.send_signal(signal.SIGTERM)  # KillMode=mixed: SIGTERM to the main process only
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.journal(name, 1, f"{name}: State 'stop-sigterm' timed out. Killing.", ident="systemd")
        self._kill(proc)  # and SIGKILL to whatever is left in the "cgroup" (the process group)
        unit.state = "inactive"
        self.journal(name, 1, f"Stopped {name}.", ident="systemd")
        return 0, ""

    # ------------------------------------------------------------------ control socket

    def handle(self, request: dict) -> tuple[int, str]:
        verb, units = request["verb"], request.get("units", [])
        if verb in ("start", "stop"):
            rc, out = 0, []
            for name in units:
                r, o = (self.start if verb == "start" else self.stop)(name)
                rc = rc or r
                if o:
                    out.append(o)
            return rc, "\n".join(out)
        if verb == "is-active":
            states = [self.units[u].state if u in self.units else "inactive" for u in units]
            return (0 if all(s == "active" for s in states) else 3), "\n".join(states)
        if verb == "show":
            unit = self.units.get(units[0])
            live = unit is not None and unit.process is not None and unit.process.poll() is None
            values = {"MainPID": str(unit.process.pid) if live else "0",
                      "ActiveState": unit.state if unit else "inactive",
                      "StatusText": unit.status if unit else "",
                      "WatchdogPings": str(unit.watchdog_pings if unit else 0)}
            return 0, values.get(request.get("property", "MainPID"), "")
        if verb == "reset-failed":
            for name in units:
                if name in self.units and self.units[name].state == "failed":
                    self.units[name].state = "inactive"
            return 0, ""
        if verb == "daemon-reload":
            return 0, ""
        return 1, f"Unknown command verb {verb}."

    def serve(self) -> None:
        control = self.run_dir / "systemd.sock"
        control.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(control))
        server.listen(64)
        (self.run_dir / "ready").write_text(str(os.getpid()))
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            request = json.loads(f.readline())
            try:
                rc, out = self.handle(request)
            except Exception as e:  # report, keep serving
                rc, out = 1, f"fake systemd: {type(e).__name__}: {e}"
            f.write(json.dumps({"rc": rc, "out": out}).encode() + b"\n")
            f.flush()

    def shutdown(self, *_: object) -> None:
        for name, unit in list(self.units.items()):
            if unit.process is not None and unit.process.poll() is None:
                self.stop(name)
        os._exit(0)


def main() -> None:
    fake = FakeSystemd(Path(sys.argv[1]))
    signal.signal(signal.SIGTERM, fake.shutdown)
    signal.signal(signal.SIGINT, fake.shutdown)
    fake.serve()


if __name__ == "__main__":
    main()
