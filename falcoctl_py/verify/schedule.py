"""Which suite tests may run side by side: the host paths each one reads or writes, and the conflicts between them.

Owns: ``run_side_by_side`` (up to ``--jobs`` tests at once, results reported in suite order), ``claims`` (a test's host paths, split into reads and writes: executables and directories it creates, files
an ``fd`` resource creates, paths a step opens for writing or links over, and every absolute path a ``before``
or ``after`` script names, counted as a write since a script can do anything with it; a write below a missing
directory claims the outermost missing one, which the runner makes and removes) and ``conflict`` (two tests
conflict when one writes a path the other reads or writes, or a directory above or below it). A container test
writes only inside its own layers, so its paths claim nothing on the host (its scripts' paths neither). Tests are
otherwise independent: each has its own id, processes and sandbox, and the engine's alerts are told apart by id.

Must not: perform tests itself or touch the host (``exists`` checks aside).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from falcoctl_py.verify.model import Binding, Test

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SCRIPT_PATH = re.compile(r"(?<![\w$.~-])/[\w@%+=:,./-]*")


@dataclass(frozen=True)
class Claims:
    reads: frozenset[str]
    writes: frozenset[str]


def _norm(path: str) -> str:
    return os.path.normpath(path) if path.startswith("/") else ""


def _made_from(path: str) -> str:
    """What writing ``path`` creates on the host, from the top: its outermost missing directory (the runner makes
    missing parents and removes them afterwards, so two tests writing different files into one missing
    directory conflict over that directory), else the path itself."""
    top = path
    parent = os.path.dirname(top)
    while parent != top and not os.path.exists(parent):
        top, parent = parent, os.path.dirname(parent)
    return top


def claims(test: Test) -> Claims:
    """The host paths ``test`` reads and writes (relative paths and bindings are the test's own)."""
    if test.container is not None:
        return Claims(frozenset(), frozenset())
    reads: set[str] = set()
    writes: set[str] = set()
    for proc in test.processes:
        if proc.exe_path:
            writes.add(proc.exe_path)
    for script in (test.before, test.after):
        writes.update(_SCRIPT_PATH.findall(script or ""))
    for r in test.resources:
        p = r.props
        if r.type == "fd" and p.get("subtype") in ("file", "directory"):
            path = str(p.get("filePath" if p["subtype"] == "file" else "dirPath") or "")
            (reads if os.path.exists(path) else writes).add(path)
        elif r.type == "process" and p.get("exePath"):
            writes.add(str(p["exePath"]))
        elif r.type == "clientServer" and p.get("l4Proto") == "unix" and str(p.get("address", "")).startswith("/"):
            writes.add(str(p["address"]))
    for step in test.steps:
        a = {k: v for k, v in step.args.items() if not isinstance(v, Binding)}
        if step.syscall in ("open", "openat", "openat2"):
            flags = a.get("flags", (a.get("how") or {}).get("flags", 0))
            target = writes if isinstance(flags, int) and flags & _WRITE_FLAGS else reads
            target.add(str(a.get("pathname", "")))
        elif step.syscall in ("symlink", "symlinkat"):
            writes.add(str(a.get("linkPath", "")))
            reads.add(str(a.get("target", "")))
        elif step.syscall in ("link", "linkat"):
            writes.add(str(a.get("newPath", "")))
            reads.add(str(a.get("oldPath", "")))
    return Claims(frozenset(filter(None, map(_norm, reads))),
                  frozenset(_made_from(p) for p in map(_norm, writes) if p))


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def conflict(a: Claims, b: Claims) -> bool:
    """Whether two tests must not run at the same time."""
    return any(_overlap(w, x) for w in a.writes for x in b.reads | b.writes) or \
        any(_overlap(w, x) for w in b.writes for x in a.reads)


T = TypeVar("T")
R = TypeVar("R")
LOOKAHEAD = 64  # how far past the first waiting test a free slot is looked for


def run_side_by_side(items: Sequence[T], work: Callable[[T], R], *, claims_of: Callable[[T], Claims], jobs: int,
                     on_result: Callable[[R], None], stop: Callable[[], None]) -> list[R]:
    """``work`` on every item, up to ``jobs`` at a time and never two conflicting ones together (a test also waits
    for an earlier conflicting one, so their order stays the suite's); ``on_result`` sees results in item order.
    On an interruption (``KeyboardInterrupt``) ``stop`` is called to cut the running items short; it
    propagates once they have finished (and cleaned up)."""
    every = [claims_of(i) for i in items]
    results: dict[int, R] = {}
    pending = list(range(len(items)))
    running: dict[Future[R], int] = {}
    emitted = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verify") as pool:
        try:
            while pending or running:
                for i in list(pending[:LOOKAHEAD]):
                    if len(running) >= jobs:
                        break
                    earlier = (k for k in pending if k < i)
                    if any(conflict(every[i], every[j]) for j in (*running.values(), *earlier)):
                        continue
                    pending.remove(i)
                    running[pool.submit(work, items[i])] = i
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    results[running.pop(fut)] = fut.result()
                while emitted in results:
                    on_result(results[emitted])
                    emitted += 1
        except BaseException:
            pending.clear()
            stop()
            wait(running)
            raise
    return [results[i] for i in range(len(items))]
