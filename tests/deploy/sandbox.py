"""Run a command under the seccomp part of a systemd unit's sandbox, without systemd.

systemd is not PID 1 on the machines that run our tests, so ``MemoryDenyWriteExecute=``,
``SystemCallFilter=``, ``SystemCallErrorNumber=`` and ``RestrictAddressFamilies=`` of our unit files would
never be exercised before a real deployment. They are the settings that can break a Python daemon (a library
that needs writable+executable memory, a syscall outside ``@system-service``). systemd implements all four
with seccomp, and so does this helper, with the same rules as systemd 252 (``src/shared/seccomp-util.c``):

- the syscall allow-list of ``SystemCallFilter=`` (groups expanded by ``systemd-analyze syscall-filter``),
  minus the ``~`` deny-lists, every other syscall failing with ``SystemCallErrorNumber=``;
- W^X: ``mmap`` with PROT_WRITE|PROT_EXEC, ``mprotect``/``pkey_mprotect`` adding PROT_EXEC, ``shmat`` with
  SHM_EXEC fail with EPERM;
- ``socket()`` of a family outside ``RestrictAddressFamilies=`` fails with EAFNOSUPPORT.

Usage: ``python sandbox.py UNIT_FILE -- COMMAND [ARG...]`` — loads the filters into this process, then
``execv``s COMMAND, which inherits them (as a service's processes do). Needs libseccomp.so.2.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import socket
import subprocess
import sys
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_GT = 6
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
PR_SET_NO_NEW_PRIVS = 38


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def unit_settings(unit_text: str, section: str = "Service") -> dict[str, list[str]]:
    """Every ``Key=value`` of one section, in order (repeated keys accumulate)."""
    settings: dict[str, list[str]] = {}
    current = ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current == section and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@functools.cache
def syscall_groups() -> dict[str, list[str]]:
    """``@group`` → its members (syscall names and nested ``@groups``), from systemd-analyze."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                         check=True).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in out.splitlines():
        if raw.startswith("@"):
            current = groups.setdefault(raw.strip(), [])
        elif raw.startswith((" ", "\t")) and current is not None:
            item = raw.split("#", 1)[0].strip()
            if item:
                current.append(item)
        else:
            current = None
    return groups


def expand(items: list[str], groups: dict[str, list[str]]) -> set[str]:
    names: set[str] = set()
    for item in items:
        if item.startswith("@"):
            names |= expand(groups[item], groups)
        else:
            names.add(item)
    return names


def allowed_syscalls(filters: list[str]) -> set[str] | None:
    """Apply ``SystemCallFilter=`` lines in order, as systemd does: the first line decides allow- or deny-list."""
    groups = syscall_groups()
    allow: set[str] | None = None
    deny: set[str] = set()
    for line in filters:
        if not line:
            allow, deny = None, set()
            continue
        negate = line.startswith("~")
        names = expand(line.lstrip("~").split(), groups)
        if allow is None and not deny and not negate:
            allow = names
        elif allow is not None:
            allow = allow - names if negate else allow | names
        else:
            deny |= names
    if allow is None:
        return None if not deny else {"!deny", *deny}
    return allow


class Filter:
    """One seccomp filter (a libseccomp context); several are stacked and the strictest action wins."""

    def __init__(self, lib: ctypes.CDLL, default_action: int) -> None:
        self.lib = lib
        self.ctx = lib.seccomp_init(default_action)
        if not self.ctx:
            raise OSError("seccomp_init failed")

    def rule(self, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        nr = self.lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a syscall on this architecture (systemd skips these too)
        array = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(*c) for c in cmps])
        rc = self.lib.seccomp_rule_add_array(self.ctx, action, nr, len(cmps), array)
        if rc < 0 and rc != -errno.EACCES and rc != -errno.EEXIST:
            raise OSError(-rc, f"seccomp_rule_add({name})")

    def load(self) -> None:
        rc = self.lib.seccomp_load(self.ctx)
        if rc < 0:
            raise OSError(-rc, "seccomp_load")


def load_libseccomp() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def apply(unit_text: str) -> list[str]:
    """Load the unit's seccomp filters into this process; returns the settings that were applied."""
    settings = unit_settings(unit_text)
    lib = load_libseccomp()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    applied: list[str] = []
    if (settings.get("MemoryDenyWriteExecute") or ["no"])[-1] in ("yes", "true", "1"):
        f = Filter(lib, SCMP_ACT_ALLOW)
        deny = scmp_act_errno(errno.EPERM)
        for name in ("mmap", "mmap2"):
            f.rule(deny, name, (2, SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
        f.rule(deny, "mprotect", (2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        f.rule(deny, "pkey_mprotect", (2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        f.rule(deny, "shmat", (2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
        f.load()
        applied.append("MemoryDenyWriteExecute")
    if families := settings.get("RestrictAddressFamilies"):
        allowed_families = sorted(getattr(socket, name) for line in families for name in line.split())
        f = Filter(lib, SCMP_ACT_ALLOW)
        deny = scmp_act_errno(errno.EAFNOSUPPORT)
        for family in range(allowed_families[-1]):
            if family not in allowed_families:
                f.rule(deny, "socket", (0, SCMP_CMP_EQ, family, 0))
        f.rule(deny, "socket", (0, SCMP_CMP_GT, allowed_families[-1], 0))
        f.load()
        applied.append("RestrictAddressFamilies")
    # Last, as systemd does: the allow-list may not contain seccomp() itself.
    if filters := settings.get("SystemCallFilter"):
        code = getattr(errno, (settings.get("SystemCallErrorNumber") or ["EPERM"])[-1])
        allowed = allowed_syscalls(filters)
        if allowed is not None and "!deny" in allowed:
            f = Filter(lib, SCMP_ACT_ALLOW)
            for name in sorted(allowed - {"!deny"}):
                f.rule(scmp_act_errno(code), name)
        elif allowed is not None:
            f = Filter(lib, scmp_act_errno(code))
            for name in sorted(allowed):
                f.rule(SCMP_ACT_ALLOW, name)
        f.load()
        applied.append("SystemCallFilter")
    return applied


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    apply(Path(argv[1]).read_text())
    os.execv(argv[3], argv[3:])
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
