"""A snapshot of the host state a verify run could change, and the difference between two snapshots.

Owns: ``snapshot`` — accounts (``/etc/passwd``, ``/etc/group``, ``/etc/shadow``, ``/etc/gshadow``), mounts
(mount point, type and source of every line of ``/proc/self/mountinfo``), cgroups (every directory of the cgroup2
hierarchy), namespaces (those a process verify started is in), and the files under ``/etc`` (recursively), ``/root``,
``/dev/shm``, ``/var/log`` and ``/tmp`` (top level); ``changes`` lists what differs. ``/tmp`` is shared with whatever else runs
on the machine, so there only entries that look like verify's (or the suite's) count.

Must not: change anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
OURS_IN_TMP = re.compile(r"^(falcopy-verify-|falcopy-cs-|eg_|verify-)")


@dataclass(frozen=True)
class HostState:
    accounts: dict[str, tuple[str, ...]]
    mounts: frozenset[tuple[str, str, str]]
    cgroups: frozenset[str]
    namespaces: frozenset[str]
    files: frozenset[str]
    tmp: frozenset[str]


def _cgroup2() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return Path(left.split()[4])
    return None


def _walk(top: str, *, depth: int) -> set[str]:
    out: set[str] = set()
    base = top.rstrip("/").count("/")
    for root, dirs, names in os.walk(top):
        if root.count("/") - base >= depth:
            dirs[:] = []
        out.update(os.path.join(root, n) for n in [*dirs, *names])
    return out


def _namespaces() -> set[str]:
    """Namespaces held by processes verify started (their environment carries its control variables); a
    namespace held only by them is gone when they are."""
    out: set[str] = set()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if b"FALCOPY_VERIFY_" not in Path(f"/proc/{pid}/environ").read_bytes():
                continue
        except OSError:
            continue
        for kind in ("mnt", "pid", "uts", "ipc", "net"):
            try:
                out.add(os.readlink(f"/proc/{pid}/ns/{kind}"))
            except OSError:
                continue
    return out


def snapshot() -> HostState:
    accounts = {}
    for name in ACCOUNT_FILES:
        try:
            accounts[name] = tuple(sorted(Path(name).read_text().splitlines()))
        except OSError:
            accounts[name] = ()
    mounts = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        mounts.add((left.split()[4], *right.split()[:2]))
    cg = _cgroup2()
    cgroups = {str(Path(r)) for r, _d, _f in os.walk(cg)} if cg else set()
    files = _walk("/etc", depth=6) | _walk("/dev/shm", depth=1) | {p for p in _walk("/var/log", depth=1)
                                                                   if os.path.basename(p).startswith("eg_")}
    files |= {p for p in _walk("/root", depth=1) if not p.startswith("/root/.cache")}
    return HostState(accounts=accounts, mounts=frozenset(mounts), cgroups=frozenset(cgroups),
                     namespaces=frozenset(_namespaces()), files=frozenset(files),
                     tmp=frozenset(n for n in os.listdir("/tmp") if OURS_IN_TMP.match(n)))


def changes(before: HostState, after: HostState) -> list[str]:
    """What differs, one line each (empty when the host is as it was)."""
    out = []
    for name in ACCOUNT_FILES:
        added = set(after.accounts[name]) - set(before.accounts[name])
        removed = set(before.accounts[name]) - set(after.accounts[name])
        out += [f"{name}: added {line.split(':')[0]}" for line in sorted(added)]
        out += [f"{name}: removed {line.split(':')[0]}" for line in sorted(removed)]
    out += [f"mount added: {m}" for m in sorted(after.mounts - before.mounts)]
    out += [f"mount removed: {m}" for m in sorted(before.mounts - after.mounts)]
    out += [f"cgroup added: {c}" for c in sorted(after.cgroups - before.cgroups)]
    out += [f"namespace still held: {n}" for n in sorted(after.namespaces - before.namespaces)]
    out += [f"file added: {f}" for f in sorted(after.files - before.files)]
    out += [f"file removed: {f}" for f in sorted(before.files - after.files)]
    out += [f"/tmp entry added: {f}" for f in sorted(after.tmp - before.tmp)]
    return out
