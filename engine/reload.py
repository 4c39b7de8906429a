"""Hot reload of rules: watch the rules files, load and validate off the hot path, swap atomically.

Owns: ``Reloader`` — a thread polling each rules file's identity (resolved path, inode, size, mtime; the resolved
path catches a ConfigMap's ``..data`` symlink swap, where the visible name never changes), loading the new set with
``engine.rules.load_rules`` in that thread, and on success calling ``Engine.swap_ruleset``; a failed load keeps the
running ruleset, logs every finding, and is counted. A change is loaded once the files stop changing, never in the
middle of an in-place rewrite. ``reload_now()`` forces a load (SIGHUP). After a swap the
``on_swap`` listeners get the new ruleset (the syscall source re-narrows what the kernel captures with it); a
listener that fails is logged and does not undo the swap.

Must not: evaluate events, touch the engine's state other than through ``swap_ruleset``, or import
prometheus_client (``engine.metrics`` reads ``stats()``: ``reloads`` by result, the current checksum).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.rules.loader import LoadResult
    from engine.rules.ruleset import Ruleset
    from engine.runtime import Engine

log = logging.getLogger(__name__)

_SETTLE_TRIES = 10  # looks at a changing file before it is loaded as it is then
Signature = tuple[tuple[str, str, int, int, int] | tuple[str, None], ...]


def _describe(finding: Any) -> str:
    where = ":".join(
        str(x)
        for x in (
            getattr(finding, "file", None),
            getattr(finding, "line", None),
            getattr(finding, "column", None),
        )
        if x not in (None, "")
    )
    name = getattr(finding, "item_name", None)
    item = f" {getattr(finding, 'item_type', '')} '{name}'" if name else ""
    return f"{where + ': ' if where else ''}{getattr(finding, 'code', 'ERROR')}{item}: {finding.message}"


class Reloader:
    """Keep ``engine``'s ruleset in step with the rules files.

    ``files``: a callable returning the current list of rules files (directories are re-listed on each poll, so
    a file added to a mounted ConfigMap is picked up); ``loader``: ``load_rules``-compatible callable.
    """

    def __init__(
        self,
        files: Callable[[], list[Path]],
        *,
        engine: Engine,
        rule_matching: str = "first",
        interval: float = 2.0,
        settle: float = 0.1,
        loader: Callable[..., LoadResult] | None = None,
        on_swap: list[Callable[[Ruleset], object]] | None = None,
    ) -> None:
        self._files = files
        self.on_swap: list[Callable[[Ruleset], object]] = list(on_swap or ())
        self.engine = engine
        self.rule_matching = rule_matching
        self.interval = interval
        self.settle = settle
        if loader is None:
            from engine.rules import load_rules

            loader = load_rules
        self._loader: Callable[..., LoadResult] = loader
        self.reloads: Counter[str] = Counter()
        self.last_error: str | None = None
        self._signature = self._current_signature()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._lock = threading.Lock()  # one load at a time
        self._thread: threading.Thread | None = None

    def _current_signature(self) -> Signature:
        sig: list[Any] = []
        for path in self._files():
            try:
                real = os.path.realpath(path)
                st = os.stat(real)
                sig.append((real, str(path), st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append((str(path), None))
        return tuple(sig)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rules-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def reload_now(self) -> None:
        """Ask the reload thread to load now (safe from a signal handler: it only sets an event)."""
        self._kick.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            kicked = self._kick.wait(self.interval)
            if self._stop.is_set():
                return
            self._kick.clear()
            try:
                self.check(force=kicked)
            except Exception:  # the watcher must survive anything a load throws at it
                log.exception("rules reload crashed; keeping the running ruleset")
                self.reloads["failure"] += 1

    def check(self, *, force: bool = False) -> bool | None:
        """Reload if the files changed (or ``force``); True/False for success/failure, None when unchanged.

        A change is loaded once the files stop changing (``settle`` seconds apart, for up to ``_SETTLE_TRIES``
        looks): a file rewritten in place is first truncated, then written, and a look between the two must not
        load it empty (an empty rules file is a valid ruleset with no rules: detection would be off until the next
        change)."""
        sig = self._current_signature()
        if not force and sig == self._signature:
            return None
        if not force:
            sig = self._settled(sig)
        self._signature = sig
        return self.load()

    def _settled(self, sig: Signature) -> Signature:
        for _ in range(_SETTLE_TRIES):
            time.sleep(self.settle)
            now = self._current_signature()
            if now == sig:
                break
            sig = now
        return sig

    def load(self) -> bool:
        with self._lock:
            files = self._files()
            result = self._loader(list(files), rule_matching=self.rule_matching)
            for warning in result.warnings:
                log.warning("rules reload: %s", _describe(warning))
            if not result.successful or result.ruleset is None:
                self.reloads["failure"] += 1
                for error in result.errors:
                    log.error("rules reload: %s", _describe(error))
                self.last_error = f"{len(result.errors)} error(s) loading {', '.join(map(str, files))}"
                log.error("rules reload failed (%s); the running ruleset stays", self.last_error)
                return False
            self.engine.swap_ruleset(result.ruleset)
            for listener in self.on_swap:
                try:
                    listener(result.ruleset)
                except Exception:  # the new rules run; what the listener could not do is logged
                    log.exception("after the rules reload, %r failed", listener)
            self.reloads["success"] += 1
            self.last_error = None
            log.info(
                "rules reloaded from %d file(s), checksum %s",
                len(files),
                getattr(result.ruleset, "checksum", "?"),
            )
            return True

    def stats(self) -> dict[str, object]:
        return {"reloads": dict(self.reloads), "last_error": self.last_error}
