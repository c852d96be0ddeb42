"""The daemon as systemd sees it: socket activation, sd_notify, drain on SIGTERM, binding, bad config."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import TEST_API_KEY, daemon_command, start_daemon, write_config
from tests.support.net import free_port
from tests.support.notify import NotifyListener


def test_health_version_and_request_id(daemon):
    r = httpx.get(daemon.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert len(r.headers["x-request-id"]) >= 16
    r = httpx.get(daemon.url + "/healthz", headers={"x-request-id": "trace-abc.123"})
    assert r.headers["x-request-id"] == "trace-abc.123"
    r = httpx.get(daemon.url + "/health", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    v = httpx.get(daemon.url + "/version").json()
    assert v["version"]


def test_readiness_and_metrics(daemon):
    assert httpx.get(daemon.url + "/api/health").status_code == 200
    assert httpx.get(daemon.url + "/metrics").status_code == 401  # admin: key always required
    text = httpx.get(daemon.url + "/metrics", headers=daemon.auth).text
    assert 'antigravityd_http_requests_total{route="/api/health",status="200"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    assert "antigravityd_http_in_flight" in text
    assert "antigravityd_relay_pacing 0.0" in text  # an idle daemon relays each event as it comes
    busy = re.search(r"^antigravityd_event_loop_busy_ratio (\S+)$", text, re.M)
    assert busy and 0.0 <= float(busy.group(1)) <= 1.0


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="systemd-socket-activate not installed")
def test_socket_activation_with_systemd_socket_activate(tmp_path: Path):
    port = free_port()
    config = write_config(tmp_path / "c.toml", {"data_dir": str(tmp_path / "data"), "security.api_key": TEST_API_KEY,
                                                "server.port": 1})  # port 1 would fail: proves fd 3 is used
    env_flags = [f"-E{k}={v}" for k, v in os.environ.items() if k in ("PYTHONPATH", "PATH", "HOME")]
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", *env_flags,
                             *daemon_command(config)], stderr=subprocess.PIPE, text=True)
    try:
        assert "Listening on" in proc.stderr.readline()  # the socket exists before the daemon does
        # The first connection waits in the backlog while systemd-socket-activate execs the daemon.
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=20)
        assert r.status_code == 200
        assert "LISTEN_FDS" not in os.environ
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_sd_notify_sequence(tmp_path: Path):
    d = start_daemon(tmp_path, env={"WATCHDOG_USEC": "200000"}, wait_ready=False)  # WATCHDOG=1 every 0.1 s
    try:
        ready = d.notify.wait_for("READY=1")
        assert "STATUS=" in ready
        d.notify.wait_for("WATCHDOG=1", timeout=5)
        d.send_signal(signal.SIGTERM)
        stopping = d.notify.wait_for("STOPPING=1", timeout=10)
        assert "STATUS=draining" in stopping
        assert d.proc.wait(20) == 0
        kinds = [line.split("=")[0] for m in d.notify.messages for line in m.split("\n")]
        assert kinds.index("READY") < kinds.index("WATCHDOG") < kinds.index("STOPPING")
    finally:
        d.close()


def test_watchdog_for_another_pid_is_ignored(tmp_path: Path):
    d = start_daemon(tmp_path, env={"WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"})
    try:
        httpx.get(d.url + "/health")
        d.send_signal(signal.SIGTERM)
        d.notify.wait_for("STOPPING=1")
        assert not any("WATCHDOG=1" in m for m in d.notify.messages)
    finally:
        d.close()


def _read_events(response: httpx.Response) -> list[str]:
    return [line for line in response.iter_lines() if line.startswith("data:")]


def test_in_flight_stream_completes_after_sigterm(tmp_path: Path):
    d = start_daemon(tmp_path, settings={"server.drain_timeout": 20.0})
    try:
        with httpx.stream("GET", d.url + "/api/diagnostics/stream?events=30&interval_ms=50", headers=d.auth,
                          timeout=30) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            assert '"index":0' in first
            d.send_signal(signal.SIGTERM)
            d.notify.wait_for("STOPPING=1")
            rest = [line for line in lines if line.startswith("data:")]
        assert rest[-1] == "data: [DONE]" and len(rest) == 30  # 29 more events + [DONE]
        assert d.proc.wait(20) == 0
        # After SIGTERM the port no longer accepts (only our copy of the socket existed here).
        with pytest.raises(httpx.ConnectError):
            httpx.get(d.url + "/health", timeout=2)
    finally:
        d.close()


def test_stream_longer_than_drain_timeout_is_cut_at_the_deadline(tmp_path: Path):
    d = start_daemon(tmp_path, settings={"server.drain_timeout": 1.0})
    try:
        with httpx.stream("GET", d.url + "/api/diagnostics/stream?events=1000&interval_ms=100", headers=d.auth,
                          timeout=30) as r:
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            d.send_signal(signal.SIGTERM)
            d.notify.wait_for("STOPPING=1")
            started = time.monotonic()
            with pytest.raises(httpx.RemoteProtocolError):  # cut: no terminating chunk, never a fake end
                for _ in lines:
                    pass
        assert d.proc.wait(10) == 0
        assert time.monotonic() - started < 1.0 + 2.0  # deadline plus process teardown
    finally:
        d.close()


def test_second_sigterm_stops_at_once(tmp_path: Path):
    d = start_daemon(tmp_path, settings={"server.drain_timeout": 60.0})
    try:
        with httpx.stream("GET", d.url + "/api/diagnostics/stream?events=1000&interval_ms=100", headers=d.auth,
                          timeout=30) as r:
            # One iterator for the whole stream: a generator over a fresh r.iter_lines() would close the response
            # when dropped, and a drain with no connection left ends by itself (the race this test once lost).
            data = (line for line in r.iter_lines() if line.startswith("data:"))
            next(data)
            d.send_signal(signal.SIGTERM)
            d.notify.wait_for("STOPPING=1")
            next(data)  # the drain keeps the stream going: only the second signal can end it now
            assert d.proc.poll() is None
            started = time.monotonic()
            d.send_signal(signal.SIGTERM)
            assert d.proc.wait(10) == 0
            assert time.monotonic() - started < 10  # far below the 60 s drain timeout
    finally:
        d.close()


def test_ipv6_loopback_bind(tmp_path: Path):
    d = start_daemon(tmp_path, settings={"server.bind": "::1", "server.port": free_port("::1")})
    try:
        assert d.url.startswith("http://[::1]:")
        assert httpx.get(d.url + "/health").status_code == 200
    finally:
        d.close()


def test_bad_config_value_stops_start_naming_the_key(tmp_path: Path):
    config = write_config(tmp_path / "c.toml", {"data_dir": str(tmp_path), "server.drain_timeout": -5})
    out = subprocess.run(daemon_command(config), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "server.drain_timeout" in out.stderr and "-5" in out.stderr
    assert out.stderr.count("\n") == 1  # one line, no traceback


def test_bad_env_override_names_the_key(tmp_path: Path):
    config = write_config(tmp_path / "c.toml", {"data_dir": str(tmp_path)})
    env = {**os.environ, "ANTIGRAVITY_PORT": "eighty"}
    out = subprocess.run(daemon_command(config), capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 2 and "server.port" in out.stderr and "eighty" in out.stderr


def test_port_in_use_is_one_clear_line(tmp_path: Path, daemon):
    port = int(daemon.url.rsplit(":", 1)[1])
    config = write_config(tmp_path / "c.toml", {"data_dir": str(tmp_path / "d2"), "server.port": port,
                                                "security.api_key": TEST_API_KEY})
    out = subprocess.run(daemon_command(config), capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "Address already in use" in out.stderr and "Traceback" not in out.stderr


def test_generated_api_key_is_kept_private(tmp_path: Path):
    config = write_config(tmp_path / "c.toml", {"data_dir": str(tmp_path / "data"), "server.port": free_port()})
    notify = NotifyListener()
    env = {**os.environ, "NOTIFY_SOCKET": notify.address}
    proc = subprocess.Popen(daemon_command(config), env=env, stderr=subprocess.PIPE, text=True)
    try:
        notify.wait_for("READY=1")
        key_file = tmp_path / "data" / "api.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text().strip()
        assert key.startswith("sk-ag-")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert key not in err  # stderr is not a terminal here: only the file path is logged
        assert str(key_file) in err
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "antigravityd", "version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("antigravityd ")
