"""Profiles: cluster and workload classes (node pools, event rates, sources, sizing policy) stored as YAML data.

Owns: finding a profile by name (shipped ``profiles/*.yaml``) or path, validating it against
``profiles/profile.schema.json`` and turning it into frozen records. It must not size (``falcoctl_py.sizing``) or
build chart values (``falcoctl_py.values``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import FindingsError, UsageError, parse_error_where
from falcoctl_py.quantity import cpu_millicores, memory_bytes
from falcoctl_py.resources import profile_schema, profiles_dir
from falcoctl_py.schema_check import schema_errors


@dataclass(frozen=True, slots=True)
class Rate:
    """Expected events per second at three percentiles."""

    p50: float
    p90: float
    p99: float

    def at(self, percentile: int) -> float:
        return {50: self.p50, 90: self.p90, 99: self.p99}[percentile]


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    cpu: int  # CPUs per node
    memory_bytes: int  # memory per node
    pods_per_node: int
    processes_per_node: int
    count: int
    labels: dict[str, str] = field(default_factory=dict)
    exclude_labels: tuple[str, ...] = ()  # label keys the pool's nodes never carry (keeps pools disjoint)
    taints: tuple[dict[str, str], ...] = ()
    rates: dict[str, Rate] = field(default_factory=dict)  # per-node overrides of the profile's rates


@dataclass(frozen=True, slots=True)
class SizingPolicy:
    percentile: int
    margin: float
    queued_alerts: int
    floor_cpu_millicores: int
    floor_memory_bytes: int
    strategy: str = "percentile"  # a module in falcoctl_py.sizing_strategies


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    sources: tuple[str, ...]
    syscall_backend: str
    audit_delivery: str
    pools: tuple[Pool, ...]
    rates: dict[str, Rate]  # syscall: per node; k8s_audit: whole cluster (the API server's audit stream)
    sizing: SizingPolicy
    stdout: bool
    origin: str

    def node_rate(self, pool: Pool, source: str) -> Rate:
        """A node's expected syscall-source rate (the pool's override, else the profile's)."""
        return pool.rates.get(source) or self.rates.get(source) or Rate(0.0, 0.0, 0.0)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def _rates(doc: dict[str, Any] | None) -> dict[str, Rate]:
    return {src: Rate(float(r["p50"]), float(r["p90"]), float(r["p99"])) for src, r in (doc or {}).items()}


def profile_from_dict(doc: Any, *, origin: str) -> Profile:
    problems = schema_errors(doc, profile_schema())
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FindingsError(f"profile {origin} is invalid: {'; '.join(problems[:3])}{more}")
    names = [p["name"] for p in doc["pools"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FindingsError(f"profile {origin}: pool name(s) used twice: {', '.join(dupes)}")
    if "syscall" in doc["sources"] and doc["syscall_backend"] == "none":
        raise FindingsError(f"profile {origin}: source 'syscall' needs syscall_backend ebpf, audit or proc")
    if "k8s_audit" in doc["sources"] and doc["audit_delivery"] == "none":
        raise FindingsError(f"profile {origin}: source 'k8s_audit' needs audit_delivery webhook or log-file")
    if doc["audit_delivery"] == "log-file" and not any(
        "node-role.kubernetes.io/control-plane" in (p.get("labels") or {}) for p in doc["pools"]
    ):
        raise FindingsError(
            f"profile {origin}: audit_delivery log-file needs a pool labeled node-role.kubernetes.io/control-plane"
        )
    for src in doc["sources"]:
        if src not in doc["rates"]:
            raise FindingsError(f"profile {origin}: rates.{src} missing for listed source {src}")
    pools = tuple(
        Pool(
            name=p["name"],
            cpu=int(p["cpu"]),
            memory_bytes=memory_bytes(p["memory"]),
            pods_per_node=int(p["pods_per_node"]),
            processes_per_node=int(p.get("processes_per_node", 20 * int(p["pods_per_node"]))),
            count=int(p["count"]),
            labels=dict(p.get("labels") or {}),
            exclude_labels=tuple(p.get("exclude_labels") or ()),
            taints=tuple(p.get("taints") or ()),
            rates=_rates(p.get("rates")),
        )
        for p in doc["pools"]
    )
    s = doc["sizing"]
    policy = SizingPolicy(
        percentile=int(s["percentile"]),
        margin=float(s["margin"]),
        queued_alerts=int(s.get("queued_alerts", 1000)),
        floor_cpu_millicores=cpu_millicores(s["floors"]["cpu"]),
        floor_memory_bytes=memory_bytes(s["floors"]["memory"]),
        strategy=str(s.get("strategy", "percentile")),
    )
    return Profile(
        name=doc["name"],
        description=doc["description"],
        sources=tuple(doc["sources"]),
        syscall_backend=doc["syscall_backend"],
        audit_delivery=doc["audit_delivery"],
        pools=pools,
        rates=_rates(doc["rates"]),
        sizing=policy,
        stdout=bool((doc.get("outputs") or {}).get("stdout", True)),
        origin=origin,
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``small``) or a profile file by path; errors name the profile and problem."""
    text = str(name_or_path)
    path = Path(text)
    if not (path.suffix in (".yaml", ".yml") or "/" in text or path.is_file()):  # an existing file is a file
        path = profiles_dir() / f"{text}.yaml"
        if not path.is_file():
            raise UsageError(f"unknown profile {text!r} (available: {', '.join(available_profiles())})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read profile {path}: {exc.strerror}") from exc
    try:
        doc = yaml.load(raw, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        where, problem = parse_error_where(path, exc, raw)
        raise FindingsError(f"{where}: profile is not valid YAML: {problem}") from exc
    return profile_from_dict(doc, origin=str(path))
