"""Check rendered manifests against the official Kubernetes OpenAPI schemas for a target version, plus our own checks.

Owns: ``check_manifests(docs, *, kube_version) -> Report``. Schemas come from ``kubernetes-validate``'s bundled
strict files, but are parsed once per version and compiled into one cached ``jsonschema`` validator per
(version, kind) — the library's own ``validate()`` re-reads ~1 MB per call and stops at the first error. Every error
is listed with kind/name/path. Kinds with no official schema (CRDs such as ServiceMonitor, PrometheusRule) are
reported as "not schema-checked", never as passed. On top: quantity strings and enum values the schemas do not
constrain, and requests <= limits. It must not render (``falcoctl_py.render``) or talk to a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import referencing
import referencing.jsonschema

from falcoctl_py.errors import UsageError
from falcoctl_py.quantity import QuantityError, cpu_millicores, memory_bytes

DEFS_URI = "/api/_definitions.json"
ENUMS: dict[str, frozenset[str]] = {
    "imagePullPolicy": frozenset({"Always", "IfNotPresent", "Never"}),
    "restartPolicy": frozenset({"Always", "OnFailure", "Never"}),
    "dnsPolicy": frozenset({"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}),
    "protocol": frozenset({"TCP", "UDP", "SCTP"}),
    "operator": frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Equal"}),
    "effect": frozenset({"", "NoSchedule", "PreferNoSchedule", "NoExecute"}),
    "preemptionPolicy": frozenset({"PreemptLowerPriority", "Never"}),
}
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost", "Unconfined"})
POLICY_TYPES = frozenset({"Ingress", "Egress"})
SERVICE_TYPES = frozenset({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})


@dataclass(frozen=True, slots=True)
class Problem:
    doc: str  # Kind/name
    path: str  # JSON path inside the document
    message: str

    def __str__(self) -> str:
        return f"{self.doc} {self.path}: {self.message}"


@dataclass(slots=True)
class Report:
    kube_version: str
    passed: list[str] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)  # (Kind/name, why)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"Kubernetes {self.kube_version}: {len(self.passed)} passed, {len(self.errors)} error(s), "
            f"{len(self.not_checked)} not schema-checked"
        )


def _schema_root() -> Path:
    return Path(str(importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")))


def schema_version(kube_version: str) -> str:
    """The newest bundled schema version not newer than ``kube_version`` (``1.30.2`` -> ``1.30.0``)."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", kube_version.strip())
    if not m:
        raise UsageError(f"Kubernetes version {kube_version!r}: expected MAJOR.MINOR[.PATCH]")
    want = (int(m.group(1)), int(m.group(2)))
    have = []
    for d in _schema_root().iterdir():
        dm = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", d.name)
        if dm:
            have.append(((int(dm.group(1)), int(dm.group(2))), f"{dm.group(1)}.{dm.group(2)}.{dm.group(3)}"))
    fits = sorted(v for v in have if v[0] <= want)
    if not fits or want > max(have)[0]:
        span = f"{min(have)[1]}..{max(have)[1]}" if have else "none"
        raise UsageError(f"no Kubernetes schemas for {kube_version} (bundled: {span})")
    return fits[-1][1]


@lru_cache(maxsize=8)
def _registry(version: str) -> referencing.Registry[Any]:
    defs = orjson.loads((_schema_root() / f"v{version}-local-strict" / "_definitions.json").read_bytes())
    resource = referencing.Resource.from_contents(
        defs, default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(DEFS_URI, resource).crawl()  # crawl once, not per $ref


@lru_cache(maxsize=256)
def _validator(version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_root() / f"v{version}-local-strict" / f"{kind.lower()}-{group}.json"
    if not path.is_file():
        return None
    schema = orjson.loads(path.read_bytes())
    schema.setdefault("$id", f"/api/{path.name}")
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


def _doc_id(doc: Mapping[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out or "."


def _pod_specs(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        yield ".spec", spec
    tmpl = (spec.get("template") or {}).get("spec") if isinstance(spec, Mapping) else None
    if isinstance(tmpl, Mapping):
        yield ".spec.template.spec", tmpl


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield path, str(k), v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_problem(key: str, value: Any) -> str | None:
    """Why a label key/value would be refused by the API server (the OpenAPI schema only says 'string')."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_PREFIX.match(prefix)):
        return f"label key {key!r}: prefix is not a DNS subdomain"
    if not _LABEL_NAME.match(name):
        return f"label key {key!r}: name must be 1-63 alphanumerics, '-', '_' or '.'"
    if not isinstance(value, str) or (value and not _LABEL_NAME.match(value)):
        return f"label {key}={value!r}: value must be empty or 1-63 alphanumerics, '-', '_' or '.'"
    return None


def own_checks(doc: Mapping[str, Any]) -> list[Problem]:
    """Quantities, enums, label syntax and request<=limit checks the OpenAPI schemas leave out."""
    did = _doc_id(doc)
    problems: list[Problem] = []
    label_sets = [(".metadata.labels", (doc.get("metadata") or {}).get("labels"))]
    template = (doc.get("spec") or {}).get("template") if isinstance(doc.get("spec"), Mapping) else None
    if isinstance(template, Mapping):
        label_sets.append((".spec.template.metadata.labels", (template.get("metadata") or {}).get("labels")))
    for where, labels in label_sets:
        for key, value in (labels or {}).items():
            why = label_problem(str(key), value)
            if why:
                problems.append(Problem(did, where, why))
    for parent, key, value in _walk(doc, ""):
        if key in ENUMS and isinstance(value, str) and value not in ENUMS[key]:
            problems.append(Problem(did, f"{parent}.{key}", f"{value!r} is not one of {sorted(ENUMS[key])}"))
    for base, pod in _pod_specs(doc):
        for group in ("initContainers", "containers"):
            for i, c in enumerate(pod.get(group) or []):
                cpath = f"{base}.{group}[{i}]"
                res = c.get("resources") or {}
                parsed: dict[tuple[str, str], int] = {}
                for section in ("requests", "limits"):
                    for name, qty in (res.get(section) or {}).items():
                        try:
                            parsed[(section, name)] = (
                                cpu_millicores(qty) if name == "cpu" else memory_bytes(qty)
                            )
                        except QuantityError as exc:
                            problems.append(Problem(did, f"{cpath}.resources.{section}.{name}", str(exc)))
                for name in ("cpu", "memory"):
                    req, lim = parsed.get(("requests", name)), parsed.get(("limits", name))
                    if req is not None and lim is not None and req > lim:
                        problems.append(
                            Problem(did, f"{cpath}.resources", f"{name} request exceeds its limit")
                        )
                sec = ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
                if sec is not None and sec not in SECCOMP_TYPES:
                    problems.append(
                        Problem(did, f"{cpath}.securityContext.seccompProfile.type", f"{sec!r} unknown")
                    )
        sec = ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        if sec is not None and sec not in SECCOMP_TYPES:
            problems.append(Problem(did, f"{base}.securityContext.seccompProfile.type", f"{sec!r} unknown"))
    spec = doc.get("spec") or {}
    if doc.get("kind") == "NetworkPolicy":
        for i, t in enumerate(spec.get("policyTypes") or []):
            if t not in POLICY_TYPES:
                problems.append(Problem(did, f".spec.policyTypes[{i}]", f"{t!r} is not Ingress or Egress"))
    if doc.get("kind") == "Service" and spec.get("type", "ClusterIP") not in SERVICE_TYPES:
        problems.append(Problem(did, ".spec.type", f"{spec.get('type')!r} is not a Service type"))
    return problems


def check_manifests(docs: Iterable[Mapping[str, Any]], *, kube_version: str) -> Report:
    """Schema-check every manifest for ``kube_version`` and apply ``own_checks``; never raises on bad manifests."""
    version = schema_version(kube_version)
    report = Report(kube_version=version)
    for doc in docs:
        did = _doc_id(doc)
        kind, api_version = doc.get("kind"), doc.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            report.errors.append(Problem(did, ".", "missing kind or apiVersion"))
            continue
        validator = _validator(version, kind, api_version)
        before = len(report.errors)
        if validator is None:
            report.not_checked.append(
                (did, f"no official schema for {api_version} {kind} in Kubernetes {version}")
            )
        else:
            for err in sorted(
                validator.iter_errors(dict(doc)), key=lambda e: list(map(str, e.absolute_path))
            ):
                report.errors.append(Problem(did, _json_path(err.absolute_path), err.message))
        report.errors.extend(own_checks(doc))
        if validator is not None and len(report.errors) == before:
            report.passed.append(did)
    return report
