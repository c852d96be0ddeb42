"""Render the NixOS-shaped unit definitions of nix/module.nix (``systemd.services.<name>``,
``systemd.sockets.<name>``) into unit files, the way NixOS's systemd-lib does, so that ``systemd-analyze``
can check what the module would install.

An approximation on purpose: NixOS also adds ``Environment=PATH=…``, ``X-Restart-Triggers`` and the like,
and turns ``script`` into a generated ExecStart program; those parts only exist on a real NixOS system
(docs/runbook.md lists what is verified where). Every key the module sets is rendered here.
"""

from __future__ import annotations

from typing import Any

SCRIPT_PATH = "/nix/store/00000000000000000000000000000000-unit-script-{name}/bin/{name}-start"

UNIT_LISTS = {"after": "After", "before": "Before", "wants": "Wants", "requires": "Requires",
              "bindsTo": "BindsTo", "partOf": "PartOf", "conflicts": "Conflicts", "documentation": "Documentation"}
INSTALL_LISTS = {"wantedBy": "WantedBy", "requiredBy": "RequiredBy"}
NIXOS_ONLY = {"restartIfChanged", "reloadIfChanged", "stopIfChanged", "overrideStrategy", "script", "path",
              "preStart", "postStart", "startAt", "restartTriggers", "enable"}


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lines_for(key: str, value: Any) -> list[str]:
    if isinstance(value, list):
        return [f"{key}={value_text(v)}" for v in value]
    return [f"{key}={value_text(value)}"]


def render(name: str, definition: dict[str, Any], kind: str) -> str:
    """One unit file. ``kind`` is ``service`` or ``socket``; ``name`` is without the suffix."""
    unknown = set(definition) - set(UNIT_LISTS) - set(INSTALL_LISTS) - NIXOS_ONLY - {
        "description", "unitConfig", "serviceConfig", "socketConfig", "environment", "listenStreams"}
    if unknown:
        raise ValueError(f"{name}: keys the renderer does not know: {sorted(unknown)}")
    unit: list[str] = []
    if "description" in definition:
        unit.append(f"Description={definition['description']}")
    for key, ini in UNIT_LISTS.items():
        if definition.get(key):
            unit.append(f"{ini}={' '.join(definition[key])}")
    for key, value in definition.get("unitConfig", {}).items():
        unit += lines_for(key, value)

    body: list[str] = []
    if kind == "service":
        for key, value in definition.get("environment", {}).items():
            body.append(f'Environment="{key}={value}"')
        if definition.get("path"):
            body.append('Environment="PATH=' + ":".join(f"{p}/bin" for p in definition["path"]) + '"')
        config = dict(definition.get("serviceConfig", {}))
        if "script" in definition and "ExecStart" not in config:
            config["ExecStart"] = SCRIPT_PATH.format(name=name.rstrip("@"))
    else:
        config = dict(definition.get("socketConfig", {}))
        body += [f"ListenStream={s}" for s in definition.get("listenStreams", [])]
    for key, value in config.items():
        body += lines_for(key, value)

    install = []
    for key, ini in INSTALL_LISTS.items():
        if definition.get(key):
            install.append(f"{ini}={' '.join(definition[key])}")

    parts = []
    if unit:
        parts.append("[Unit]\n" + "\n".join(unit))
    if body:
        parts.append(f"[{kind.capitalize()}]\n" + "\n".join(body))
    if install:
        parts.append("[Install]\n" + "\n".join(install))
    return "\n\n".join(parts) + "\n"


def render_all(systemd: dict[str, Any]) -> dict[str, str]:
    """``config.systemd`` of the module → ``{file name: text}``, drop-ins as ``<unit>.d/overrides.conf``."""
    files: dict[str, str] = {}
    for name, definition in systemd.get("sockets", {}).items():
        files[f"{name}.socket"] = render(name, definition, "socket")
    for name, definition in systemd.get("services", {}).items():
        if definition.get("overrideStrategy") == "asDropin":
            files[f"{name}.service.d/overrides.conf"] = render(name, definition, "service")
        else:
            files[f"{name}.service"] = render(name, definition, "service")
    return files
