"""Configuration: every key round-trips through `config set`/`get`; bad values are refused naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.cli import main
from antigravityd.config import ConfigError
from antigravityd.config_loading import SETTINGS, Setting, load_config

SAMPLE_VALUES = {
    "server.bind": "::1",
    "log.level": "debug",
    "log.format": "plain",
    "security.auth_mode": "strict",
    "database.url": "postgresql://agd@localhost/agd",
    "database.replica_url": "postgresql://agd@replica/agd",
    "upstream.base_urls": "http://127.0.0.1:9/v1internal,http://127.0.0.1:10/v1internal",
    "oauth.auth_url": "http://127.0.0.1:9/auth",
    "oauth.token_url": "http://127.0.0.1:9/token",
    "oauth.userinfo_url": "http://127.0.0.1:9/userinfo",
    "oauth.redirect_base": "https://gateway.example.org",
    "sync.remote": "https://other.example.org",
    "database.pool_min": "2",
    "security.trusted_proxies": "127.0.0.1,10.0.0.0/8",
}


def sample(s: Setting) -> tuple[str, object]:
    """A valid non-default value for the setting, as text and as the typed value `get` prints."""
    if s.key in SAMPLE_VALUES:
        text = SAMPLE_VALUES[s.key]
    elif s.type is bool:
        text = "false" if s.default else "true"
    elif s.type is int:
        text = str(s.default + 1 if s.check is None or s.check(s.default + 1) is None else s.default - 1)
    elif s.type is float:
        text = str(s.default + 0.5 if s.check is None or s.check(s.default + 0.5) is None else s.default / 2)
    elif s.type is list:
        text = "alpha,beta"
    else:
        text = "some-value"
    return text, text


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_every_key_round_trips_through_set_and_get(tmp_path: Path, key: str, capsys, monkeypatch):
    for s in SETTINGS.values():
        if s.env:
            monkeypatch.delenv(s.env, raising=False)
    setting = SETTINGS[key]
    config = tmp_path / "c.toml"
    text, _ = sample(setting)
    assert main(["--config", str(config), "config", "set", key, text]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "config", "get", key]) == 0
    printed = capsys.readouterr().out.strip()
    stored = tomllib.loads(config.read_text())
    head, _, tail = key.partition(".")
    value = stored[head][tail] if tail else stored[head]
    loaded = load_config(config, environ={})
    section = getattr(loaded, head)
    assert (getattr(section, tail) if tail else section) == value
    if setting.secret and "://" in text:
        assert printed.strip('"') == text  # a DSN without a password is shown; passwords are masked (below)
    elif setting.secret:
        assert printed == '"********"' and text not in printed
    elif setting.type is list:
        assert value == text.split(",")
    else:
        assert printed.strip('"') == str(value).lower() if setting.type is bool else printed.strip('"') == text


def test_bad_values_name_key_value_and_what_is_allowed(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 70000\n')
    with pytest.raises(ConfigError) as e:
        load_config(config, environ={})
    assert str(e.value) == "invalid setting server.port = 70000: expected a number from 1 to 65535"
    config.write_text('[server]\nprot = 80\n')
    with pytest.raises(ConfigError, match="server.prot"):
        load_config(config, environ={})
    config.write_text('[security]\nauth_mode = "open"\n')
    with pytest.raises(ConfigError, match="one of off, strict, all_except_health, auto"):
        load_config(config, environ={})
    config.write_text('[database]\npool_min = 20\npool_max = 5\n')
    with pytest.raises(ConfigError, match="database.pool_min"):
        load_config(config, environ={})
    config.write_text("not toml = = =")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(config, environ={})


def test_set_refuses_unknown_keys_and_bad_values(tmp_path: Path, capsys):
    config = tmp_path / "c.toml"
    assert main(["--config", str(config), "config", "set", "server.nope", "1"]) == 2
    assert main(["--config", str(config), "config", "set", "server.port", "http"]) == 2
    assert "server.port" in capsys.readouterr().err
    assert not config.exists()


def test_environment_overrides_file(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 9000\nbind = "127.0.0.1"\n')
    loaded = load_config(config, environ={"ANTIGRAVITY_PORT": "9100", "ANTIGRAVITY_BIND": "0.0.0.0",
                                          "ANTIGRAVITY_UPSTREAM_URL": "http://127.0.0.1:1/v1internal"})
    assert loaded.server.port == 9100 and loaded.server.bind == "0.0.0.0"
    assert loaded.upstream.base_urls == ["http://127.0.0.1:1/v1internal"]


@pytest.mark.parametrize(("bind", "mode", "required"), [
    ("127.0.0.1", "auto", False), ("::1", "auto", False), ("0.0.0.0", "auto", True), ("::", "auto", True),
    ("127.0.0.1", "strict", True), ("0.0.0.0", "off", False), ("127.0.0.1", "all_except_health", True),
])
def test_auth_default_is_safe(tmp_path: Path, bind: str, mode: str, required: bool):
    loaded = load_config(tmp_path / "none.toml", environ={},
                         overrides={"server.bind": bind, "security.auth_mode": mode})
    assert loaded.auth_required is required


def test_show_masks_secrets(tmp_path: Path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[security]\napi_key = "sk-very-secret"\n[database]\nurl = "postgresql://u:pw@db/x"\n')
    assert main(["--config", str(config), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "sk-very-secret" not in out and ":pw@" not in out and "postgresql://u:********@db/x" in out


@given(st.text(max_size=20))
def test_text_values_for_numbers_are_refused_or_parsed(text: str):
    setting = SETTINGS["server.port"]
    from antigravityd.config_loading import coerce

    try:
        value = coerce(setting, text, from_text=True)
    except ConfigError as e:
        assert e.key == "server.port"
    else:
        assert isinstance(value, int) and 1 <= value <= 65535


def test_the_upstream_pool_keeps_every_connection_it_may_open(tmp_path):
    """A burst above the idle cap used to close the surplus after each wave and reconnect for the next — to Google
    that is a TLS handshake per request. Idle connections expire after keepalive_expiry anyway."""
    from antigravityd.upstream.transport import ClientSettings

    config = tmp_path / "c.toml"
    config.write_text("[upstream]\nmax_connections = 300\n")
    settings = ClientSettings.from_config(load_config(config, environ={}))
    assert settings.max_connections == settings.max_keepalive_connections == 300
