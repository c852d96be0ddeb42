"""The flake and the NixOS module, checked offline: every .nix file parses, the module evaluates with stub
arguments, the units it would install pass ``systemd-analyze verify`` silently and stay under the exposure
ceiling, and the settings it renders are accepted by the daemon's own config loader.

What needs nixpkgs (building the package, evaluating the module inside a real NixOS system, booting it) runs
in ``nix flake check`` on a machine with network access; docs/runbook.md lists it.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from antigravityd import __version__
from antigravityd.config_loading import load_config, read_secret
from tests.deploy import nixeval, units
from tests.deploy.nixos_units import render_all
from tests.deploy.test_units import SECURITY_CEILING
from tests.deploy.units import REPO, UNIT_DIR, unit_settings

SCENARIOS: dict[str, dict[str, Any]] = {
    "blue-green-package": {"enable": True},
    "single-release-dir": {
        "enable": True, "blueGreen": {"enable": False}, "releaseDir": "/opt/antigravityd",
        "apiKeyFile": "/run/keys/agd-api-key", "tokenKeyFile": "/run/keys/agd-token-key",
        "oauthClientSecretFile": "/run/keys/agd-oauth", "database": {"createLocally": True},
    },
    "primary-with-nginx": {
        "enable": True, "bind": "::1", "releaseDir": "/opt/antigravityd",
        "database": {"createLocally": True, "replication": {
            "role": "primary", "passwordFile": "/run/keys/pg-repl", "replicaAddresses": ["10.100.0.2/32"]}},
        "nginx": {"enable": True, "domain": "llm.example.org"},
    },
    "replica-host": {
        "database": {"replication": {"role": "replica", "primaryHost": "10.100.0.1",
                                     "passwordFile": "/run/keys/pg-repl"}},
    },
}


def nix_store_programs(files: dict[str, str]) -> list[str]:
    return sorted({b for text in files.values() for b in units.exec_binaries(text) if b.startswith("/nix/store/")})


def failed_assertions(config: dict[str, Any]) -> list[str]:
    return [a["message"] for a in config.get("assertions", []) if not a["assertion"]]


# ------------------------------------------------------------------------------------------------ parsing


def test_every_nix_file_parses() -> None:
    files = nixeval.nix_files()
    names = {str(p.relative_to(REPO)) for p in files}
    assert {"flake.nix", "nix/module.nix", "nix/package.nix", "nix/units.nix", "nix/settings.nix",
            "nix/postgres.nix"} <= names
    for path in files:
        result = nixeval.parse(path)
        assert result.returncode == 0 and not result.stderr, f"{path}: {result.stderr}"


def test_parse_check_catches_a_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nix"
    bad.write_text("{ a = 1;; }\n")
    result = nixeval.parse(bad)
    assert result.returncode != 0 and "syntax error" in result.stderr


# ------------------------------------------------------------------------------------------------ package


def test_package_version_is_the_python_version() -> None:
    assert nixeval.eval_json(expr='import ./nix/version.nix { root = ./.; }') == __version__


def test_package_takes_every_runtime_dependency_from_nixpkgs() -> None:
    """package.nix evaluated with a stub python3Packages: its dependency list mirrors pyproject.toml."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower().replace("_", "-")
              for d in pyproject["project"]["dependencies"]}
    stub_names = sorted(wanted | {"setuptools", "pytestCheckHook", "pytest-trio", "hypothesis", "systemd"})
    stub_ps = " ".join(f'"{n}" = "{n}";' for n in stub_names)
    expr = f"""
      let
        lib = {{ optionals = c: l: if c then l else [ ]; licenses.mit = "mit"; platforms.linux = [ "linux" ]; }};
        ps = {{ {stub_ps} python.sitePackages = "lib/python3/site-packages";
                buildPythonApplication = attrs: attrs; }};
        drv = import ./nix/package.nix {{ inherit lib; python3Packages = ps; src = ./.; gitRevision = "abc123"; }};
      in {{ inherit (drv) pname version dependencies makeWrapperArgs postPatch; }}
    """
    drv = nixeval.eval_json(expr=expr)
    assert drv["pname"] == "antigravityd" and drv["version"] == __version__
    assert set(drv["dependencies"]) == wanted | {"systemd"}  # + the journal extra
    assert drv["makeWrapperArgs"] == ["--set-default", "ANTIGRAVITY_GIT_REV", "abc123"]
    # The substitution must match pyproject.toml, or --replace-fail stops the build.
    pattern = re.search(r"--replace-fail '([^']+)'", drv["postPatch"]).group(1)
    assert pattern in (REPO / "pyproject.toml").read_text()


# ------------------------------------------------------------------------------------------------ module


def test_option_defaults() -> None:
    d = nixeval.eval_module({})["defaults"]
    assert (d["enable"], d["bind"], d["port"], d["watchdogSec"]) == (False, "127.0.0.1", 8045, 30)
    assert d["blueGreen"]["enable"] is True and d["releaseDir"] is None
    assert d["apiKeyFile"] is None and d["tokenKeyFile"] is None and d["oauthClientSecretFile"] is None
    repl = d["database"]["replication"]
    assert (repl["role"], repl["user"], repl["maxWalSenders"], repl["walKeepSize"]) == ("none", "replicator", 10, "1GB")


def test_disabled_module_defines_no_units() -> None:
    config = nixeval.eval_module({})["config"]
    assert config.get("systemd", {}).get("services", {}) == {}
    assert config.get("systemd", {}).get("sockets", {}) == {}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_module_units_verify_without_any_output(tmp_path: Path, scenario: str) -> None:
    result = nixeval.eval_module(SCENARIOS[scenario])
    assert failed_assertions(result["config"]) == []
    files = render_all(result["config"]["systemd"])
    assert files
    paths = units.stage(files, tmp_path, exec_paths=nix_store_programs(files))
    assert units.verify_output(paths) == ""


def test_blue_green_layout() -> None:
    systemd = nixeval.eval_module(SCENARIOS["primary-with-nginx"])["config"]["systemd"]
    assert systemd["sockets"]["antigravityd"]["listenStreams"] == ["[::1]:8045"]
    assert systemd["sockets"]["antigravityd"]["socketConfig"]["Service"] == "antigravityd@blue.service"
    template = systemd["services"]["antigravityd@"]
    assert template["restartIfChanged"] is False  # a nixos-rebuild must not bounce the serving slot
    assert template["serviceConfig"]["ExecStart"] == "/opt/antigravityd/%i/bin/antigravityd serve"
    assert systemd["services"]["antigravityd@blue"] == {"overrideStrategy": "asDropin",
                                                        "wantedBy": ["multi-user.target"]}


def test_single_service_layout_runs_the_current_release() -> None:
    systemd = nixeval.eval_module(SCENARIOS["single-release-dir"])["config"]["systemd"]
    assert set(systemd["services"]) == {"antigravityd"}
    service = systemd["services"]["antigravityd"]["serviceConfig"]
    assert service["ExecStart"] == "/opt/antigravityd/current/bin/antigravityd serve"
    assert service["ExecStartPre"] == "/opt/antigravityd/current/bin/antigravityd db migrate"
    assert "Service" not in systemd["sockets"]["antigravityd"]["socketConfig"]


@pytest.mark.parametrize("scenario", ["blue-green-package", "single-release-dir"])
def test_module_units_security_score(tmp_path: Path, scenario: str) -> None:
    files = render_all(nixeval.eval_module(SCENARIOS[scenario])["config"]["systemd"])
    paths = [p for p in units.stage(files, tmp_path, exec_paths=nix_store_programs(files))
             if p.name.startswith("antigravityd") and p.suffix == ".service"]
    assert paths
    for path in paths:
        assert units.security_score(path) <= SECURITY_CEILING, path.name


def _normalise(values: list[str]) -> list[str]:
    return ["yes" if v == "true" else "no" if v == "false" else v for v in values]


def test_module_sandbox_is_the_plain_units_sandbox() -> None:
    files = render_all(nixeval.eval_module(SCENARIOS["blue-green-package"])["config"]["systemd"])
    module = unit_settings(files["antigravityd@.service"])
    plain = unit_settings((UNIT_DIR / "antigravityd@.service").read_text())
    # Everything but where the program, the config and the credentials come from must agree.
    differs_on_purpose = {"ExecStart", "ExecStartPre", "Environment", "LoadCredential"}
    keys = (set(module) | set(plain)) - differs_on_purpose
    mismatched = {k: (module.get(k), plain.get(k)) for k in keys if _normalise(module.get(k, [])) != plain.get(k, [])}
    assert mismatched == {}


def test_stop_timeout_follows_the_drain_timeout() -> None:
    result = nixeval.eval_module({"enable": True, "settings": {"server": {"drain_timeout": 120}}})
    template = result["config"]["systemd"]["services"]["antigravityd@"]["serviceConfig"]
    assert template["TimeoutStopSec"] == "135s"


# ------------------------------------------------------------------------------------------------ settings


def test_rendered_settings_are_accepted_by_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_in = {"server": {"drain_timeout": 60}, "log": {"level": "debug"}}
    overrides = SCENARIOS["single-release-dir"] | {"settings": settings_in}
    settings = nixeval.eval_module(overrides)["settings"]
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(settings))
    config = load_config(path, environ={})
    assert (config.server.bind, config.server.port, config.server.drain_timeout) == ("127.0.0.1", 8045, 60.0)
    assert config.log.level == "debug"
    assert config.database.url == "postgresql:///antigravityd?host=/run/postgresql"
    # Secrets are paths under the credentials directory, resolved by the daemon at start.
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-key").write_text("sk-test-key\n")
    (creds / "oauth-client-secret").write_text("client-secret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret(config.security.api_key, config.security.api_key_file) == "sk-test-key"
    assert read_secret(config.oauth.client_secret, config.oauth.client_secret_file) == "client-secret"
    assert config.security.token_key_file == "$CREDENTIALS_DIRECTORY/token-key"


def test_options_win_over_settings_for_what_they_own() -> None:
    settings = nixeval.eval_module({"enable": True, "port": 9000,
                                    "settings": {"server": {"port": 1234, "drain_timeout": 5}}})["settings"]
    assert settings["server"] == {"bind": "127.0.0.1", "port": 9000, "drain_timeout": 5}


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"settings": {"security": {"api_key": "sk-oops"}}}, "must not contain secrets"),
    ({"settings": {"oauth": {"client_secret": "oops"}}}, "must not contain secrets"),
    ({"settings": {"database": {"url": "postgresql://agd:hunter2@db/agd"}}}, "must not contain a password"),
    ({"apiKeyFile": "/nix/store/00000000000000000000000000000000-key"}, "must not point into the Nix store"),
    ({"nginx": {"enable": True}}, "nginx.domain must be set"),
    ({"database": {"createLocally": True, "name": "agd"}}, "must be equal with createLocally"),
    ({"database": {"replication": {"role": "replica", "passwordFile": "/run/keys/p"}}},
     "needs database.replication.primaryHost"),
    ({"database": {"replication": {"role": "primary"}}}, "passwordFile must be set"),
])
def test_assertions_reject_unsafe_configurations(overrides: dict[str, Any], fragment: str) -> None:
    config = nixeval.eval_module({"enable": True, **overrides})["config"]
    messages = failed_assertions(config)
    assert any(fragment in m for m in messages), messages


def test_no_secret_value_reaches_the_store() -> None:
    """Only credential *paths* appear in what the module writes (units, config, scripts)."""
    result = nixeval.eval_module(SCENARIOS["primary-with-nginx"] | {"apiKeyFile": "/run/keys/agd-api-key"})
    text = json.dumps(result["config"]) + json.dumps(result["settings"])
    assert "/run/keys/agd-api-key" in text and "$CREDENTIALS_DIRECTORY/api-key" in text
    script = result["config"]["systemd"]["services"]["antigravityd-replication-role"]["script"]
    assert "PASSWORD :'pw'" in script and "$CREDENTIALS_DIRECTORY/replication-password" in script
