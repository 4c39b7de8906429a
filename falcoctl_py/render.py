"""Render the chart with real helm and parse the manifests.

Owns: ``render(values, *, kube_version, release, namespace) -> list[dict]`` (``helm template`` of the packaged
chart, each YAML document parsed with the C loader, empty documents dropped, ``# Source:`` kept as
no extra keys) and writing manifests back out as YAML. It must not build
values (``falcoctl_py.values``) or judge manifests (``falcoctl_py.validate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import FindingsError
from falcoctl_py.helm import Helm
from falcoctl_py.resources import chart_dir

DEFAULT_RELEASE = "falco-py"
DEFAULT_NAMESPACE = "falco-py"
DEFAULT_KUBE_VERSION = "1.30.0"
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def normalize_kube_version(version: str) -> str:
    """``1.30`` / ``v1.30`` -> ``1.30.0``; anything else, or a version outside the supported range (the bundled
    schemas, which helm would otherwise reject or nothing could check), is a usage error (exit 2)."""
    from falcoctl_py.errors import UsageError
    from falcoctl_py.validate import schema_version

    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        raise UsageError(f"--kube-version {version!r}: expected MAJOR.MINOR[.PATCH], e.g. 1.30")
    schema_version(version)  # raises UsageError naming the supported range
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or 0}"


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """Parse a multi-document YAML stream; each dict gets no extra keys. Non-mapping documents are an error."""
    docs: list[dict[str, Any]] = []
    try:
        for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise FindingsError(f"rendered document is a {type(doc).__name__}, not a manifest")
            docs.append(doc)
    except yaml.YAMLError as exc:
        raise FindingsError(f"helm rendered invalid YAML: {str(exc).splitlines()[0]}") from exc
    return docs


def render_text(
    values: Mapping[str, Any],
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    api_versions: Iterable[str] = (),
    helm: Helm | None = None,
    chart: str | Path | None = None,
) -> str:
    """The raw ``helm template`` output."""
    runner = helm or Helm()
    return runner.template(
        chart or chart_dir(),
        values,
        release=release,
        namespace=namespace,
        kube_version=normalize_kube_version(kube_version),
        api_versions=api_versions,
    )


def render(
    values: Mapping[str, Any],
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    api_versions: Iterable[str] = (),
    helm: Helm | None = None,
    chart: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Render the chart with ``values`` and return the parsed manifests (helm's order)."""
    return parse_manifests(
        render_text(
            values,
            kube_version=kube_version,
            release=release,
            namespace=namespace,
            api_versions=api_versions,
            helm=helm,
            chart=chart,
        )
    )


def doc_id(doc: Mapping[str, Any]) -> str:
    """``Kind/name`` for messages and file names."""
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind', '?')}/{meta.get('name', '?')}"


def dump_manifests(docs: Iterable[Mapping[str, Any]]) -> str:
    return "".join("---\n" + yaml.dump(dict(d), Dumper=yaml.CSafeDumper, sort_keys=False) for d in docs)


def dump_manifests_json(docs: Iterable[Mapping[str, Any]]) -> str:
    """A ``v1`` ``List`` holding the manifests, as indented JSON (what ``kubectl get -o json`` prints)."""
    import orjson

    body = {"apiVersion": "v1", "kind": "List", "items": [dict(d) for d in docs]}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n"


def write_manifests(docs: Iterable[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """One file per manifest, ``NN-kind-name.yaml``, in ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, doc in enumerate(docs):
        kind = str(doc.get("kind", "unknown")).lower()
        name = str((doc.get("metadata") or {}).get("name", "unnamed"))
        path = out / f"{i:02d}-{kind}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.yaml"
        path.write_text(yaml.dump(dict(doc), Dumper=yaml.CSafeDumper, sort_keys=False))
        written.append(path)
    return written
