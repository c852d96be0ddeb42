"""The unit files in systemd/: clean ``systemd-analyze verify``, a low exposure score, the settings the
zero-downtime design depends on, and a daemon-shaped Python that still works inside their seccomp sandbox."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from antigravityd.config import ServerConfig
from tests.deploy import units
from tests.deploy.units import UNIT_DIR, unit_settings

SECURITY_CEILING = 1.5  # systemd-analyze security --offline=yes; 1.1 when this was written

SANDBOX_KEYS = {
    "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ProtectHome",
    "PrivateTmp", "PrivateDevices", "PrivateUsers", "PrivateIPC", "PrivateMounts", "ProtectHostname",
    "ProtectClock", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectProc", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
    "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "KeyringMode", "SystemCallArchitectures",
    "SystemCallFilter", "SystemCallErrorNumber", "DevicePolicy", "UMask", "DynamicUser", "User", "Group",
    "StateDirectory", "StateDirectoryMode", "LoadCredential",
}


def read(name: str) -> str:
    return (UNIT_DIR / name).read_text()


def test_every_unit_verifies_without_any_output(tmp_path: Path) -> None:
    paths = units.stage(units.repo_units(), tmp_path)
    names = {p.name for p in paths}
    assert names == {"antigravityd.socket", "antigravityd.service", "antigravityd@blue.service",
                     "antigravityd@green.service"}
    assert units.verify_output(paths) == ""


def test_verify_check_catches_unknown_keys_and_missing_binaries(tmp_path: Path) -> None:
    """The check above must be able to fail: an unknown key only warns (exit 0), and we still see it."""
    typo = read("antigravityd.service").replace("WatchdogSec=", "WatchdogSecs=")
    paths = units.stage({"antigravityd.service": typo, "antigravityd.socket": read("antigravityd.socket")},
                        tmp_path / "typo")
    assert "Unknown key 'WatchdogSecs'" in units.verify_output(paths)
    missing = read("antigravityd.service").replace("/opt/antigravityd/current/bin/antigravityd serve",
                                                   "/nonexistent/antigravityd serve")
    paths = units.stage({"antigravityd.service": missing, "antigravityd.socket": read("antigravityd.socket")},
                        tmp_path / "missing")
    assert "is not executable" in units.verify_output(paths)


@pytest.mark.parametrize("name", ["antigravityd.service", "antigravityd@blue.service"])
def test_security_exposure_is_under_the_ceiling(tmp_path: Path, name: str) -> None:
    paths = {p.name: p for p in units.stage(units.repo_units(), tmp_path)}
    assert units.security_score(paths[name]) <= SECURITY_CEILING


def test_socket_is_shared_by_both_layouts() -> None:
    sock = unit_settings(read("antigravityd.socket"), "Socket")
    assert sock["ListenStream"] == ["127.0.0.1:8045"]
    assert sock["Backlog"] == ["4096"]
    assert sock["NoDelay"] == ["true"]
    assert sock["FileDescriptorName"] == ["http"]
    assert "Service" not in sock  # the single-service layout: activates antigravityd.service
    dropin = unit_settings(read("antigravityd.socket.d/blue-green.conf"), "Socket")
    assert dropin["Service"] == ["antigravityd@blue.service"]
    for name in ("antigravityd.service", "antigravityd@.service"):
        assert unit_settings(read(name))["Sockets"] == ["antigravityd.socket"]


@pytest.mark.parametrize("name", ["antigravityd.service", "antigravityd@.service"])
def test_service_settings_the_restart_design_depends_on(name: str) -> None:
    s = unit_settings(read(name))
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["KillMode"] == ["mixed"]
    assert s["Restart"] == ["on-failure"]
    assert units.seconds(s["WatchdogSec"][0]) >= 10
    # systemd SIGKILLs at TimeoutStopSec: it must leave the daemon its whole drain deadline, with margin.
    assert units.seconds(s["TimeoutStopSec"][0]) >= ServerConfig().drain_timeout + 10
    assert [c for c in s["ExecStartPre"] if c.endswith(" db migrate")], "migrations must run before serving"
    assert s["ExecStart"][0].endswith("/bin/antigravityd serve")
    assert s["CapabilityBoundingSet"] == [""]
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    # Both slots must share one dynamic UID or each start would re-chown the other's state directory.
    assert s["DynamicUser"] == ["yes"] and s["User"] == ["antigravityd"]
    assert s["StateDirectory"] == ["antigravityd"]
    creds = {c.split(":")[0] for c in s["LoadCredential"]}
    assert creds == {"api-key", "token-key", "oauth-client-secret"}


def test_template_slots_run_their_own_release_link() -> None:
    s = unit_settings(read("antigravityd@.service"))
    assert s["ExecStart"] == ["/opt/antigravityd/%i/bin/antigravityd serve"]
    assert s["ExecStartPre"] == ["/opt/antigravityd/%i/bin/antigravityd db migrate"]
    assert unit_settings(read("antigravityd@.service"), "Install")["DefaultInstance"] == ["blue"]


def test_both_services_share_one_sandbox() -> None:
    single, slot = unit_settings(read("antigravityd.service")), unit_settings(read("antigravityd@.service"))
    for key in SANDBOX_KEYS:
        assert single.get(key) == slot.get(key), key
    assert set(slot) >= SANDBOX_KEYS


SANDBOX_PROBE = textwrap.dedent("""
    import ctypes, mmap, socket
    import trio, h11, httpx, psycopg, psycopg_pool, orjson, prometheus_client, tomli_w, outcome
    from cryptography.fernet import Fernet
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    key = Fernet.generate_key()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"token")) == b"token"
    assert orjson.loads(orjson.dumps({"a": [1, 2]})) == {"a": [1, 2]}
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    assert b"process_resident_memory_bytes" in generate_latest(registry)
    cb = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)   # libffi closure: must not need W+X memory
    assert cb() == 7

    async def serve_one():
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        async def handler(stream):
            await stream.send_all(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\nok")
            await stream.aclose()
        async with trio.open_nursery() as n:
            n.start_soon(trio.serve_listeners, handler, [listener])
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
            n.cancel_scope.cancel()
    trio.run(serve_one)

    denied = []
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except OSError:
        denied.append("wx")
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
    except OSError:
        denied.append("netlink")
    print("denied=" + ",".join(denied))
""")


def test_runtime_stack_works_inside_the_units_seccomp_sandbox() -> None:
    """MemoryDenyWriteExecute, SystemCallFilter and RestrictAddressFamilies as systemd would apply them."""
    result = subprocess.run(
        [sys.executable, str(Path(units.__file__).with_name("sandbox.py")), str(UNIT_DIR / "antigravityd@.service"),
         "--", sys.executable, "-c", SANDBOX_PROBE],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "denied=wx,netlink"  # the filters really were active
