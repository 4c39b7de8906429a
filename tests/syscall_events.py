"""Seeded syscall events built from the literals a ruleset compares with, so the rules see values they care about
(``sensitive_files``, shell names, cron paths...) mixed with values they do not; for tests and benchmarks
(``from syscall_events import literals, synth_event``; ``tests/`` is on pytest's pythonpath).

Not a test module: it builds ``SyscallEvent`` objects only.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from engine.condition.ast import And, Compare, FieldRef, ListValue, Not, Or, Value
from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent

O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0o1, 0o2, 0o100, 0o1000
FILLER = {"name": ["python3", "nginx", "java", "node"], "path": ["/usr/lib/x.so", "/var/log/app.log", "/tmp/a"]}


def literals(asts: Iterable[Any]) -> dict[str, list[str]]:
    """Field name -> the literal texts the conditions compare it with (in first-seen order, no repeats)."""
    out: dict[str, dict[str, None]] = defaultdict(dict)
    todo = list(asts)
    while todo:
        node = todo.pop()
        if isinstance(node, (And, Or)):
            todo.extend(node.children)
        elif isinstance(node, Not):
            todo.append(node.child)
        elif isinstance(node, Compare) and isinstance(node.left, FieldRef):
            right = node.right
            items = right.items if isinstance(right, ListValue) else (right,) if isinstance(right, Value) else ()
            for item in items:
                out[node.left.name][item.text] = None
    return {k: list(v) for k, v in out.items()}


def _pick(rng: random.Random, lits: dict[str, list[str]], fields: tuple[str, ...], filler: str) -> str:
    pool = [v for f in fields for v in lits.get(f, ()) if v and "*" not in v]
    if pool and rng.random() < 0.6:
        return rng.choice(pool)
    return rng.choice(FILLER[filler])


def synth_event(rng: random.Random, lits: dict[str, list[str]], evt_type: str, num: int = 1) -> SyscallEvent:
    """One event of ``evt_type``: a process chain of 1-5, a file fd for opens, maybe a container."""
    names = ("proc.name", "proc.pname", "proc.aname")
    proc: ProcessInfo | None = ProcessInfo(pid=1, name="systemd", exepath="/usr/lib/systemd/systemd")
    for depth in range(rng.randint(1, 5)):
        name = _pick(rng, lits, names, "name")[:15]
        args = [_pick(rng, lits, ("proc.args",), "name")] if rng.random() < 0.5 else []
        proc = ProcessInfo(pid=100 + depth, ppid=proc.pid if proc else 0, name=name, exe=name,
                           exepath=f"/usr/bin/{name}", args=args, cmdline=" ".join([name, *args]),
                           uid=rng.choice([0, 1000]), parent=proc, cap_effective=rng.choice([0, 0x1FFFFFFFFFF]),
                           container_id="0123456789ab" if rng.random() < 0.5 else "host")
    assert proc is not None
    container = None
    if proc.container_id != "host":
        image = _pick(rng, lits, ("container.image.repository",), "name")
        container = ContainerInfo(id=proc.container_id, image=image, image_repository=image,
                                  privileged=rng.random() < 0.2)
    args: dict[str, Any] = {}
    fd = None
    if evt_type in ("open", "openat", "openat2", "creat"):
        path = _pick(rng, lits, ("fd.name", "fd.filename", "fd.directory", "evt.arg.name"), "path")
        if rng.random() < 0.3:
            path = path.rstrip("/") + "/" + rng.choice(["x", "id_rsa", ".bash_history", "authorized_keys"])
        directory, _, filename = path.rpartition("/")
        flags = rng.choice([0, 0, O_WRONLY | O_CREAT | O_TRUNC, O_RDWR])
        fd = FdInfo(num=3, type="file", name=path, directory=directory or "/", filename=filename, open_flags=flags)
        args = {"fd": 3, "dirfd": -100, "name": path, "flags": flags, "mode": 0o644}
    elif evt_type in ("execve", "execveat"):
        args = {"filename": proc.exepath}
    return SyscallEvent(type=evt_type, ts=1_700_000_000_000_000_000 + num, num=num, tid=proc.pid, pid=proc.pid,
                        res=3 if fd else 0, args=args, proc=proc, fd=fd, container=container)
