"""The in-pod rules follower: keep rules from OCI references in step with their registry, as falcoctl's
``artifact follow`` does for Falco.

Owns: one thread polling every followed reference (``follow.refs``) each ``follow.interval`` seconds; on a
manifest digest it has not seen: download (``engine.oci.rulesfile.read_artifact``), the engine-version gate
(``check_engine_requirement``), validation of the whole ruleset as it would be after the change (every other
rules file plus the new ones, through the reloader's loader), then the swap: the files go into a new version
directory under ``follow.dir/<name>/`` and the ``current`` symlink the engine's rules list points at is
replaced atomically; then the reloader loads (``reload()``). A download, gate or validation failure keeps the
running rules and the files on disk; that digest is remembered and not fetched again until the reference
moves. ``sync()`` runs one round synchronously (the service does so before its first load, so a pod starts
with the artifact when the registry answers, and with the last good download when it does not).

Paths: ``entries()`` are what the service appends to its rules list (``<dir>/<name>/current``). Stats
(``stats()``): per reference the current digest, the last error, and counts by result (``updated``,
``unchanged``, ``rejected``, ``failed``).

Must not: evaluate events, swap rulesets itself (``reload`` does, through ``engine.reload.Reloader``), or
import prometheus_client.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.oci.registry import Reference, Registry, RegistryError, load_docker_config
from engine.oci.rulesfile import check_engine_requirement, read_artifact

if TYPE_CHECKING:
    from engine.config_types import FollowConfig

log = logging.getLogger(__name__)

CURRENT = "current"


@dataclass
class _Followed:
    ref: Reference
    name: str
    digest: str | None = None
    rejected: str | None = None
    last_error: str | None = None
    results: Counter[str] = field(default_factory=Counter)


def _slug(ref: Reference) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{ref.repository}_{ref.tag or 'pinned'}").strip("_.")


class RulesFollower:
    """Follow ``refs`` into ``directory``.

    ``validate(files) -> error or None`` loads a candidate ruleset; ``ruleset()`` lists the rules files the
    engine loads now (this follower's current files among them); ``reload() -> bool`` makes the engine load them.
    """

    def __init__(
        self,
        refs: list[str],
        *,
        directory: Path,
        interval: float,
        validate: Callable[[list[Path]], str | None],
        ruleset: Callable[[], list[Path]] | None = None,
        reload: Callable[[], bool] | None = None,
        auth_file: Path | None = None,
        plain_http: bool | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.directory = Path(directory)
        self.interval = interval
        self.validate = validate
        self.reload = reload
        self.ruleset: Callable[[], list[Path]] = ruleset or list
        self.auth_file = auth_file
        self.plain_http = plain_http
        self.timeout = timeout
        self.followed = [_Followed(ref=ref, name=_slug(ref)) for ref in map(Reference.parse, refs)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        for item in self.followed:  # a restarted pod keeps following from what it downloaded last time
            current = self.directory / item.name / CURRENT
            if current.is_symlink():
                item.digest = _digest_of(Path(os.readlink(current)).name)

    def entries(self) -> list[str]:
        return [str(self.directory / f.name / CURRENT) for f in self.followed]

    def present_entries(self) -> list[str]:
        """The entries that have been downloaded (a reference never fetched yet contributes no file)."""
        return [e for e in self.entries() if Path(e).is_dir()]

    def _registry(self, ref: Reference) -> Registry:
        auths = load_docker_config(self.auth_file) if self.auth_file and self.auth_file.is_file() else {}
        return Registry(ref.registry, auths=auths, plain_http=self.plain_http, timeout=self.timeout)

    # -- one round ---------------------------------------------------------------------------------------------

    def sync(self) -> bool:
        """Poll every reference once; True when any rules changed on disk (and were reloaded)."""
        with self._lock:
            changed = [self._poll(item) for item in self.followed]
        if any(changed) and self.reload is not None:
            self.reload()
        return any(changed)

    def _poll(self, item: _Followed) -> bool:
        try:
            registry = self._registry(item.ref)
            digest = item.ref.digest or registry.resolve(item.ref)
        except RegistryError as exc:
            return self._failed(item, "failed", str(exc))
        if digest in (item.digest, item.rejected):
            item.results["unchanged"] += 1
            return False
        try:
            artifact = read_artifact(registry, item.ref.with_digest(digest))
            check_engine_requirement(artifact, where=f"{item.ref}@{digest}")
        except RegistryError as exc:
            kind = "rejected" if exc.kind == "invalid" else "failed"
            if kind == "rejected":  # this digest stays refused; a download that failed is retried
                item.rejected = digest
            return self._failed(item, kind, f"{exc}; the running rules stay")
        return self._install(item, digest, artifact.files)

    def _install(self, item: _Followed, digest: str, files: dict[str, bytes]) -> bool:
        base = self.directory / item.name
        version = base / digest.replace(":", "-")
        staging = base / f".staging-{digest.split(':')[-1][:12]}"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            for name, data in files.items():
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return self._failed(item, "failed", f"{staging}: cannot write: {exc.strerror or exc}")
        problem = self.validate(self._ruleset_with(item, staging))
        if problem is not None:
            shutil.rmtree(staging, ignore_errors=True)
            item.rejected = digest
            return self._failed(item, "rejected", f"{item.ref}@{digest}: {problem}; the running rules stay")
        shutil.rmtree(version, ignore_errors=True)
        os.replace(staging, version)
        link = base / f".{CURRENT}.tmp"
        link.unlink(missing_ok=True)
        os.symlink(version.name, link)
        old = os.readlink(base / CURRENT) if (base / CURRENT).is_symlink() else None
        os.replace(link, base / CURRENT)  # the engine's rules entry now names the new files, atomically
        if old and old != version.name:
            shutil.rmtree(base / old, ignore_errors=True)
        log.info("rules follower: %s is now %s (%d file(s))", item.ref, digest, len(files))
        item.digest, item.rejected, item.last_error = digest, None, None
        item.results["updated"] += 1
        return True

    def _ruleset_with(self, item: _Followed, staging: Path) -> list[Path]:
        """The files the reloader would load, with ``item``'s current files replaced by ``staging``'s."""
        current = self.directory / item.name / CURRENT
        new = sorted(p for p in staging.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        out: list[Path] = []
        placed = False
        for path in self.ruleset():
            if Path(path).parent == current:
                if not placed:
                    out.extend(new)
                    placed = True
            else:
                out.append(Path(path))
        return out if placed else out + new

    def _failed(self, item: _Followed, kind: str, message: str) -> bool:
        if message != item.last_error:
            log.error("rules follower: %s", message)
        item.last_error = message
        item.results[kind] += 1
        return False

    # -- thread ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rules-follow", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception:  # the follower must outlive anything one round throws
                log.exception("rules follower round crashed; the running rules stay")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)

    def stats(self) -> dict[str, object]:
        return {
            str(f.ref): {"digest": f.digest, "last_error": f.last_error, "results": dict(f.results)}
            for f in self.followed
        }


def _digest_of(dirname: str) -> str | None:
    algo, _, hexpart = dirname.partition("-")
    return f"{algo}:{hexpart}" if algo == "sha256" and len(hexpart) == 64 else None



def from_config(section: FollowConfig, *, ruleset: Callable[[], list[Path]], rule_matching: str) -> RulesFollower:
    """A follower for a validated ``follow`` config section; candidate rulesets load with ``engine.rules``."""
    from engine.reload import _describe
    from engine.rules import load_rules

    def validate(files: list[Path]) -> str | None:
        result = load_rules(files, rule_matching=rule_matching)
        if result.successful and result.ruleset is not None:
            return None
        first = _describe(result.errors[0]) if result.errors else "no ruleset"
        return f"{len(result.errors)} error(s) loading the new rules, first: {first}"

    return RulesFollower(
        list(section["refs"]),
        directory=Path(section["dir"]),
        interval=float(section["interval"]),
        validate=validate,
        ruleset=ruleset,
        auth_file=Path(section["auth_file"]) if section.get("auth_file") else None,
        plain_http=section.get("plain_http"),
        timeout=float(section["timeout"]),
    )
