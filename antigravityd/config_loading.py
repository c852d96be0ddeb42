"""Reading settings: the declarations of ``config.py`` walked as a flat list of keys, values coerced and checked,
the TOML file and the environment merged, and the result built into a frozen :class:`~antigravityd.config.Config`.

Every command that reads, shows or changes a setting goes through here, so a key is spelled and checked one way.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antigravityd.config import SECTIONS, Check, Config, ConfigError

__all__ = [
    "SETTINGS",
    "Setting",
    "build",
    "coerce",
    "default_config_path",
    "flatten",
    "get_value",
    "iter_settings",
    "load_config",
    "read_secret",
    "read_toml",
]


# ---------------------------------------------------------------------------------------------------- introspection


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # dotted: "server.port", or "data_dir" for top-level settings
    type: type
    default: Any
    doc: str
    env: str | None
    check: Check | None
    secret: bool


def _fields_of(cls: type, prefix: str) -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        yield Setting(
            key=prefix + f.name,
            type=typing.get_origin(hint) or hint,
            default=default,
            doc=f.metadata["doc"],
            env=f.metadata["env"],
            check=f.metadata["check"],
            secret=f.metadata["secret"],
        )


def iter_settings() -> Iterator[Setting]:
    """Every setting, top-level ones first, then section by section."""
    yield from _fields_of(Config, "")
    for name, cls in SECTIONS.items():
        yield from _fields_of(cls, name + ".")


SETTINGS: dict[str, Setting] = {s.key: s for s in iter_settings()}


# ---------------------------------------------------------------------------------------------------- parsing


def coerce(s: Setting, raw: Any, *, from_text: bool = False) -> Any:
    """Turn a TOML value (or, with ``from_text``, an env/CLI string) into the setting's type, then validate."""
    value = _parse_text(s, raw) if from_text else raw
    expected = s.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(s.key, raw, "a list of strings")
    elif expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(s.key, raw, "true or false")
    elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(s.key, raw, {int: "a whole number", float: "a number", str: "a string"}[expected])
    if s.check is not None and (problem := s.check(value)) is not None:
        raise ConfigError(s.key, raw, problem)
    return value


def _parse_text(s: Setting, text: str) -> Any:
    if s.type is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(s.key, text, "true or false")
    if s.type is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(s.key, text, "a whole number") from None
    if s.type is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(s.key, text, "a number") from None
    if s.type is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def default_config_path() -> Path:
    """``$ANTIGRAVITY_CONFIG``, else /etc/antigravityd/config.toml when it exists, else the user's config dir."""
    if env := os.environ.get("ANTIGRAVITY_CONFIG"):
        return Path(env)
    system = Path("/etc/antigravityd/config.toml")
    if system.exists():
        return system
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "antigravityd" / "config.toml"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("(file)", str(path), f"valid TOML ({e})") from None


def flatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """TOML document → {"server.port": 8045, ...}; unknown keys are an error (typos must not pass silently)."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(key, value, "a table of settings")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    for key, value in flat.items():
        if key not in SETTINGS:
            raise ConfigError(key, value, "a known setting (see `antigravityd config show`)")
    return flat


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read the file, apply environment overrides, then explicit overrides (already typed), and validate."""
    environ = os.environ if environ is None else environ
    flat = flatten(read_toml(path if path is not None else default_config_path()))
    values: dict[str, Any] = {}
    for key, raw in flat.items():
        values[key] = coerce(SETTINGS[key], raw)
    for s in SETTINGS.values():
        if s.env and (text := environ.get(s.env)) not in (None, ""):
            values[s.key] = coerce(s, text, from_text=True)
    for key, raw in (overrides or {}).items():
        if key not in SETTINGS:
            raise ConfigError(key, raw, "a known setting")
        values[key] = coerce(SETTINGS[key], raw)
    return build(values)


def build(values: Mapping[str, Any]) -> Config:
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in values.items():
        head, _, tail = key.partition(".")
        if tail:
            sections[head][tail] = value
        else:
            top[head] = value
    config = Config(**top, **{name: SECTIONS[name](**kw) for name, kw in sections.items()})
    _check_cross_field(config)
    return config


def _check_cross_field(config: Config) -> None:
    if config.database.pool_min > config.database.pool_max:
        raise ConfigError("database.pool_min", config.database.pool_min,
                          f"at most database.pool_max ({config.database.pool_max})")


def get_value(config: Config, key: str) -> Any:
    if key not in SETTINGS:
        raise ConfigError(key, None, "a known setting")
    head, _, tail = key.partition(".")
    return getattr(getattr(config, head), tail) if tail else getattr(config, head)


def read_secret(inline: str, file: str) -> str:
    """A secret given inline or as a file path; ``$CREDENTIALS_DIRECTORY`` in the path is expanded."""
    if inline:
        return inline
    if not file:
        return ""
    path = Path(os.path.expandvars(file))
    return path.read_text(encoding="utf-8").strip()
