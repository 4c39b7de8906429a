"""Loading rules files: runs reader -> collector -> compiler over files in order and returns a ``LoadResult``.

Owns: ``load_rules`` and ``LoadResult``; file reading (a file that cannot be read is a ``LOAD_ERR_FILE_READ``
error), the ``required_engine_version`` check against ``engine.FALCO_ENGINE_VERSION`` (integer versions N
mean 0.N.0, as Falco maps them), ``required_plugin_versions`` against the plugin versions our field classes
declare (same major, not older; any alternative satisfies an entry), the ruleset checksum, and the default
per-source indexers. A file is read up to its first error and nothing is compiled after any read error,
as Falco does; a load
with any error never produces a ruleset.

Must not: print, exit, or touch a running engine (callers decide what a failed load means).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine import FALCO_ENGINE_VERSION
from engine import fields as field_registry
from engine.rules import findings as F
from engine.rules.collector import Collector
from engine.rules.compiler import Compiler
from engine.rules.decode import Decoder, PluginRequirement, Requirements, parse_semver
from engine.rules.findings import Finding, FindingSink, LoadError, Position
from engine.rules.reader import read_items
from engine.rules.ruleset import IndexBuild, Indexer, Ruleset

RuleSource = Path | str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class LoadResult:
    successful: bool
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    ruleset: Ruleset | None = None
    files: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "successful": self.successful,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }

    def findings_text(self) -> list[str]:
        """Every finding as ``file:line:col: error|warning CODE item_type 'name': message``, each followed by
        the other places that shaped the item."""
        lines: list[str] = []
        for kind, findings in (("error", self.errors), ("warning", self.warnings)):
            for f in findings:
                lines.append(f.to_text(kind))
                lines.extend(f"    see {p.file}:{p.line}:{p.column}: {p.item_type} '{p.item_name}'"
                             for p in f.context_chain)
        return lines

    def summary(self) -> str:
        state = "OK" if self.successful else "FAILED"
        return (f"{state}: {len(self.files)} rules file(s), {len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)")

    def as_text(self) -> str:
        """The findings, then one summary line: what ``rules validate`` prints for people."""
        return "\n".join([*self.findings_text(), self.summary()])

    def report(self) -> dict[str, object]:
        """``{"successful", "errors", "warnings"}``, each finding with its code, item, message and position."""
        def flat(f: Finding) -> dict[str, Any]:
            return {k: v for k, v in f.to_dict().items() if k != "context_chain"}

        return {"successful": self.successful, "errors": [flat(f) for f in self.errors],
                "warnings": [flat(f) for f in self.warnings]}

    def as_json(self) -> str:
        """``report()`` as one line of JSON: what ``rules validate -o json`` prints for tools."""
        return orjson.dumps(self.report()).decode()


def _all_evttypes() -> frozenset[str]:
    try:
        from engine.fields.evt import EVENT_TYPES
    except ImportError:
        return frozenset()
    return frozenset(EVENT_TYPES)


def default_indexers() -> dict[str, Indexer | IndexBuild]:
    """Per-source candidate indexers the engine ships (k8s audit by verb/resource)."""
    try:
        from engine.rules.k8s_audit_index import K8sAuditIndexer
    except ImportError:
        return {}
    return {"k8s_audit": K8sAuditIndexer()}


def _read_source(src: RuleSource) -> tuple[str, str]:
    if isinstance(src, tuple):
        return src
    path = Path(src)
    return str(path), path.read_text(encoding="utf-8")


def _version_text(ver: tuple[int, int, int]) -> str:
    return ".".join(map(str, ver))


def _check_engine(req: Requirements, sink: FindingSink) -> None:
    engine = parse_semver(FALCO_ENGINE_VERSION) or (0, 0, 0)
    for ver, text, pos in req.engine:
        if ver > engine:
            sink.error(
                F.LOAD_ERR_VALIDATE,
                f"Rules require engine version {_version_text(ver)}, but engine "
                f"version is {FALCO_ENGINE_VERSION}",
                pos,
            )


def _plugin_ok(have: Mapping[str, str], name: str, want: str) -> bool:
    got, need = parse_semver(have.get(name, "")), parse_semver(want)
    return got is not None and need is not None and got[0] == need[0] and got >= need


def _check_plugins(reqs: Sequence[PluginRequirement], sink: FindingSink) -> None:
    have = field_registry.plugin_versions()
    for req in reqs:
        if any(_plugin_ok(have, name, ver) for name, ver in req.choices):
            continue
        name, ver = req.choices[0]
        pos = Position(req.pos.file, req.pos.line, req.pos.column, F.REQUIRED_PLUGIN_VERSIONS, name)
        if name in have:
            msg = f"Plugin '{name}' version '{have[name]}' is not compatible with required plugin version '{ver}'"
        else:
            msg = f"Plugin '{name}' (version {ver}) is required by the rules but not provided by this engine"
        sink.error(F.LOAD_ERR_VALIDATE, msg, pos)


def _read_file(name: str, content: str, decoder: Decoder, sink: FindingSink) -> None:
    """Feed one file's items to the collector; like Falco, stop reading a file at its first error (later
    items would only report consequences of it) and go on with the next file."""
    try:
        for item in read_items(name, content):
            if isinstance(item, LoadError):
                sink.errors.append(item.finding)
                return
            try:
                decoder.item(item)
            except LoadError as exc:
                sink.errors.append(exc.finding)
                return
    except LoadError as exc:
        sink.errors.append(exc.finding)


def load_rules(
    sources: Sequence[RuleSource], *, rule_matching: str = "first", indexers: Mapping[str, Indexer | IndexBuild] | None = None
) -> LoadResult:
    """Load rules files (paths or ``(name, content)`` pairs) in order. Never raises for bad rules content."""
    sink = FindingSink()
    col = Collector(frozenset(field_registry.SOURCES), sink)
    req = Requirements()
    decoder = Decoder(col, sink, req)
    digest = hashlib.sha256()
    files: list[str] = []
    for src in sources:
        try:
            name, content = _read_source(src)
        except (OSError, UnicodeDecodeError) as exc:
            sink.error(
                F.LOAD_ERR_FILE_READ,
                f"Could not read rules file: {exc}",
                Position(str(src), 1, 1, F.RULES_CONTENT, str(src)),
            )
            continue
        files.append(name)
        digest.update(content.encode("utf-8"))
        _read_file(name, content, decoder, sink)
    _check_engine(req, sink)
    _check_plugins(req.plugins, sink)
    rules = []
    if not sink.errors:
        rules = Compiler(col, sink, all_evttypes=_all_evttypes()).compile()
    ok = not sink.errors
    ruleset = None
    if ok:
        used = sorted({r.source for r in rules})
        ruleset = Ruleset(
            rules,
            checksum=digest.hexdigest(),
            sources_used=used,
            rule_matching=rule_matching,
            indexers=default_indexers() if indexers is None else indexers,
        )
    return LoadResult(ok, tuple(sink.errors), tuple(sink.warnings), ruleset, tuple(files))
