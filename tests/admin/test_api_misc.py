"""Status, effective config, model mappings and the mapping tester, and auth on every admin route — over real
HTTP against the daemon."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import uuid

import pytest

from tests.admin.harness import child_env, client

ADMIN_ROUTES = [
    ("GET", "/api/status"), ("GET", "/api/config"), ("GET", "/api/accounts"),
    ("GET", f"/api/accounts/{uuid.uuid4()}"), ("PATCH", f"/api/accounts/{uuid.uuid4()}"),
    ("DELETE", f"/api/accounts/{uuid.uuid4()}"), ("GET", f"/api/accounts/{uuid.uuid4()}/events"),
    ("GET", "/api/events"), ("GET", "/api/resilience/health"), ("GET", "/api/resilience/circuits"),
    ("GET", "/api/resilience/aimd"), ("DELETE", "/api/proxy/rate-limits"),
    ("DELETE", f"/api/proxy/rate-limits/{uuid.uuid4()}"), ("POST", "/api/proxy/clear-bindings"),
    ("GET", "/api/monitor/requests"), ("GET", "/api/monitor/stats"), ("GET", "/api/monitor/tokens"),
    ("GET", "/api/mappings"), ("PUT", "/api/mappings/x"), ("DELETE", "/api/mappings/x"),
    ("POST", "/api/mappings/test"), ("GET", "/api/config/mapping"), ("POST", "/api/config/mapping"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_every_admin_route_needs_the_key(admin_daemon, method, path):
    with client(admin_daemon, key="") as c:
        r = c.request(method, path, json={})
    assert r.status_code == 401, (path, r.text)
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"] == "Bearer"


def test_status(admin_daemon):
    with client(admin_daemon) as c:
        s = c.get("/api/status").json()
    assert s["version"] and s["backend"] == "sqlite" and s["accounts_loaded"] is True
    assert set(s["accounts"]) == {"total", "usable", "disabled", "proxy_disabled"}
    assert s["in_flight"] == 0 and s["uptime_seconds"] >= 0 and s["started_at"].endswith("Z")
    assert s["sync"]["enabled"] is False


def test_config_is_the_effective_config_masked_like_config_show(admin_daemon):
    with client(admin_daemon) as c:
        settings = {s["key"]: s for s in c.get("/api/config").json()["settings"]}
    config_file = admin_daemon.log_path.with_name("daemon.toml")
    shown = subprocess.run([sys.executable, "-m", "antigravityd", "--config", str(config_file), "config", "show"],
                           capture_output=True, text=True, check=True, env=child_env()).stdout
    doc = tomllib.loads(shown)
    for key, row in settings.items():
        head, _, tail = key.partition(".")
        expected = doc[head][tail] if tail else doc[head]
        assert row["value"] == expected, key
    assert settings["security.api_key"]["value"] == "********" and settings["security.api_key"]["secret"]
    assert settings["oauth.client_secret"]["value"] == "********"
    assert settings["server.port"]["is_default"] is False and settings["server.port"]["doc"]
    assert admin_daemon.api_key not in str(settings)


def test_mapping_editor_round_trip_and_tester(admin_daemon):
    with client(admin_daemon) as c:
        r = c.put("/api/mappings/gpt-4o", json={"target": "gemini-3-flash"})
        assert r.status_code == 200, r.text
        stamp = r.json()["updated_at"]
        assert r.json() == {"key": "gpt-4o", "target": "gemini-3-flash", "updated_at": stamp, "deleted": False}
        assert c.put("/api/mappings/team-*", json={"target": "claude-sonnet-4-6"}).status_code == 200
        listed = {m["key"]: m for m in c.get("/api/mappings").json()["mappings"]}
        assert listed["gpt-4o"]["target"] == "gemini-3-flash" and "team-*" in listed

        t = c.post("/api/mappings/test", json={"model": "gpt-4o"}).json()
        assert t["resolved"] and t["upstream"] == "gemini-3-flash" and t["reason"] == "exact"
        t = c.post("/api/mappings/test", json={"model": "team-coder"}).json()
        assert t["upstream"] == "claude-sonnet-4-6" and t["reason"] == "wildcard:team-*" and t["family"] == "claude"
        t = c.post("/api/mappings/test", json={"model": "gemini-3.1-flash-image-4k-16x9"}).json()
        assert t["request_type"] == "image_gen" and t["image"] == {"aspect_ratio": "16:9", "image_size": "4K"}
        t = c.post("/api/mappings/test", json={"model": "mystery-model"}).json()
        assert t["resolved"] is False and "Unknown model" in t["error"]

        r = c.delete("/api/mappings/gpt-4o")
        assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["updated_at"] > stamp
        assert "gpt-4o" not in {m["key"] for m in c.get("/api/mappings").json()["mappings"]}
        tomb = {m["key"]: m for m in c.get("/api/mappings", params={"include_deleted": 1}).json()["mappings"]}
        assert tomb["gpt-4o"]["deleted"] is True and tomb["gpt-4o"]["target"] == ""
        t = c.post("/api/mappings/test", json={"model": "gpt-4o"}).json()
        assert t["reason"].startswith("family:")  # back to the built-in fallback
        assert c.delete("/api/mappings/gpt-4o").status_code == 404
        # A key a client had to percent-encode.
        assert c.put("/api/mappings/models%2Fodd-name", json={"target": "gemini-3-flash"}).json()["key"] == \
            "models/odd-name"
        assert c.delete("/api/mappings/models%2Fodd-name").status_code == 200
        assert c.delete("/api/mappings/team-*").status_code == 200


@pytest.mark.parametrize(("method", "path", "body", "needle"), [
    ("PUT", "/api/mappings/a", None, "JSON object body is required"),
    ("PUT", "/api/mappings/a", {"target": "has space"}, "target must be a model name"),
    ("PUT", "/api/mappings/a", {"target": ""}, "target must be a model name"),
    ("PUT", "/api/mappings/a", {"target": "b", "extra": 1}, "unknown field(s) extra"),
    ("PUT", "/api/mappings/same", {"target": "same"}, "to itself"),
    ("PUT", "/api/mappings/" + "k" * 300, {"target": "b"}, "key must be"),
    ("PUT", "/api/mappings/bad%20key", {"target": "b"}, "key must be a model name"),
    ("POST", "/api/mappings/test", {}, "model must be a model name"),
    ("POST", "/api/mappings/test", {"model": 7}, "model must be a model name"),
    ("POST", "/api/config/mapping", {"mapping": []}, "entries"),
    ("POST", "/api/config/mapping", {"other": {}}, "unknown field"),
])
def test_mapping_validation(admin_daemon, method, path, body, needle):
    with client(admin_daemon) as c:
        r = c.request(method, path, json=body) if body is not None else c.request(method, path)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"]


def test_unknown_admin_path_is_json_404(admin_daemon):
    with client(admin_daemon) as c:
        r = c.get("/api/does-not-exist")
    assert r.status_code == 404 and r.json()["error"]["message"]
