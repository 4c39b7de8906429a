"""Diff of rendered manifests against the live release (``helm get manifest``), one unified diff per object.

Owns: pairing objects by ``apiVersion/kind/namespace/name``, a stable YAML form for comparison (keys sorted,
helm's source comments ignored) and the summary counts. It must not run helm or talk to the cluster; callers pass
both sides as parsed documents.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


def object_key(doc: Mapping[str, Any], *, namespace: str) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace") or namespace
    return f"{doc.get('apiVersion', '?')}/{doc.get('kind', '?')}/{ns}/{meta.get('name', '?')}"


def _text(doc: Mapping[str, Any], *, namespace: str) -> list[str]:
    """Stable YAML; a missing ``metadata.namespace`` means the release namespace on both sides."""
    norm = dict(doc)
    meta = dict(norm.get("metadata") or {})
    meta.setdefault("namespace", namespace)
    norm["metadata"] = meta
    return yaml.safe_dump(norm, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


@dataclass
class ManifestDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # key -> unified diff text
    unchanged: int = 0
    first_install: bool = False

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        if self.first_install:
            return f"first install: {len(self.added)} objects to create"
        return (
            f"{len(self.added)} to add, {len(self.changed)} to change, {len(self.removed)} to remove, "
            f"{self.unchanged} unchanged"
        )

    def text(self) -> str:
        parts = [f"+ {k} (new)\n" for k in self.added] + [f"- {k} (removed)\n" for k in self.removed]
        parts += list(self.changed.values())
        return "".join(parts)


def diff_manifests(
    live: Iterable[Mapping[str, Any]] | None, rendered: Iterable[Mapping[str, Any]], *, namespace: str
) -> ManifestDiff:
    """``live`` is None when the release does not exist yet."""
    new = {object_key(d, namespace=namespace): d for d in rendered if d}
    if live is None:
        return ManifestDiff(added=sorted(new), first_install=True)
    old = {object_key(d, namespace=namespace): d for d in live if d}
    out = ManifestDiff()
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out.added.append(key)
        elif key not in new:
            out.removed.append(key)
        else:
            a, b = _text(old[key], namespace=namespace), _text(new[key], namespace=namespace)
            if a == b:
                out.unchanged += 1
            else:
                out.changed[key] = "".join(difflib.unified_diff(a, b, f"live/{key}", f"new/{key}"))
    return out
