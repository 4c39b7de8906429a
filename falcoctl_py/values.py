"""Chart values: profile (+ cluster facts, + cost model) -> sized values, then ``-f`` files and ``--set`` on top.

Owns: mapping a profile's pools and sources onto the chart's values (``nodePools``, ``syscall.backend``,
``k8sAudit``), merging user overrides the way helm does (maps deep-merge, lists and scalars replace, ``null``
deletes), parsing ``--set a.b[0].c=v``, and refusing values the chart's ``values.schema.json`` rejects before
anything is rendered (unknown keys named with the input that introduced them). It must not run helm
(``falcoctl_py.render``) or size anything itself (``falcoctl_py.sizing``).

Public API (stable): ``build_values(*, profile, cluster=None, cost_model=None, values_files=(), sets=(),
strategy=None) -> dict``. ``profile`` is a name, a path or a ``Profile``; ``cluster`` is what
``falcoctl_py.k8s.cluster_facts`` returns (a mapping or object with optional ``pools`` in the profile's pool
shape, ``api_server_cidrs``, ``api_server_ports``, ``dns_cidrs``) and replaces the profile's pools and the chart's
network defaults; ``strategy`` names a sizing strategy instead of the profile's. Errors: ``UsageError`` (exit 2)
for rejected values, ``FindingsError`` (exit 1) for a bad profile or cost model.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.cost_model import CostModel, load_cost_model
from falcoctl_py.errors import FindingsError, UsageError, parse_error_where
from falcoctl_py.profiles import Pool, Profile, load_profile, profile_from_dict
from falcoctl_py.quantity import format_cpu, format_memory
from falcoctl_py.resources import chart_dir, chart_values_schema
from falcoctl_py.schema_check import schema_errors
from falcoctl_py.sizing import CONTROL_PLANE_LABEL, PoolSizing, SizingResult, size_profile

WEBHOOK_TLS_SECRET = "falco-py-webhook-tls"
WEBHOOK_TOKEN_SECRET = "falco-py-webhook-token"
_SET_KEY = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def chart_defaults() -> dict[str, Any]:
    with open(chart_dir() / "values.yaml", "rb") as fh:
        loaded: dict[str, Any] = yaml.load(fh, Loader=yaml.CSafeLoader) or {}
    return loaded


def merge(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge recursively, anything else replaces; ``None`` removes the key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resources(p: PoolSizing) -> dict[str, Any]:
    return {
        "requests": {"cpu": format_cpu(p.cpu_request_m), "memory": format_memory(p.memory_request_bytes)},
        "limits": {"cpu": format_cpu(p.cpu_limit_m), "memory": format_memory(p.memory_limit_bytes)},
    }


def _selector(pool: Pool) -> dict[str, Any]:
    exprs = [
        {"key": k, "operator": "In", "values": [v]} if v else {"key": k, "operator": "Exists"}
        for k, v in sorted(pool.labels.items())
    ]
    exprs += [{"key": k, "operator": "DoesNotExist"} for k in pool.exclude_labels]
    return {"matchExpressions": exprs}


def _pool_label_order(cluster: Any) -> tuple[str, ...]:
    """The node-pool label keys in the order the cluster module assigns nodes to pools (first key wins)."""
    order = _get(cluster, "pool_label_order")
    if order:
        return tuple(order)
    try:
        from falcoctl_py.k8s.facts import POOL_LABELS
    except ImportError:
        return ()
    return tuple(POOL_LABELS)


def disjoint_cluster_pools(pools: list[dict[str, Any]], order: tuple[str, ...]) -> list[dict[str, Any]]:
    """Make pools defined by different node-pool label keys disjoint: a node belongs to the pool of the first key
    (in ``order``) it carries, so a pool keyed by a later key excludes every earlier key other pools use."""
    keys = [next((k for k in order if k in (p.get("labels") or {})), None) for p in pools]
    used = {k for k in keys if k}
    out = []
    for pool, key in zip(pools, keys, strict=True):
        pool = dict(pool)
        if key:
            earlier = [k for k in order[: order.index(key)] if k in used]
            if earlier:
                pool["exclude_labels"] = sorted(set(pool.get("exclude_labels") or ()) | set(earlier))
        out.append(pool)
    return out


def profile_values(profile: Profile, sizing: SizingResult) -> dict[str, Any]:
    """The chart values a profile implies (resources from ``sizing``)."""
    by_name = {p.facts.name: p for p in sizing.pools}
    log_file = profile.audit_delivery == "log-file" and "k8s_audit" in profile.sources
    webhook = profile.audit_delivery == "webhook" and "k8s_audit" in profile.sources
    values: dict[str, Any] = {
        "syscall": {"backend": profile.syscall_backend},
        "outputs": {"stdout": profile.stdout},
        "k8sAudit": {"webhook": {"enabled": webhook}, "logFile": {"enabled": log_file}},
    }
    pools: list[dict[str, Any]] = []
    default_pool: PoolSizing | None = None
    for pool in profile.pools:
        sized = by_name[pool.name]
        if log_file and CONTROL_PLANE_LABEL in pool.labels:
            values["k8sAudit"]["logFile"]["resources"] = _resources(sized)
        elif pool.labels:
            pools.append({"name": pool.name, "selector": _selector(pool), "resources": _resources(sized)})
        elif default_pool is None or sized.cpu_limit_m > default_pool.cpu_limit_m:
            default_pool = sized  # unlabeled pools share the default DaemonSet: size for the largest
    if default_pool is not None:
        values["daemonset"] = {"resources": _resources(default_pool)}
    values["nodePools"] = {"pools": pools}
    if webhook:
        values["k8sAudit"]["webhook"].update(
            {
                "resources": _resources(by_name["webhook"]),
                "tls": {"existingSecret": WEBHOOK_TLS_SECRET},
                "bearerToken": {"existingSecret": WEBHOOK_TOKEN_SECRET},
            }
        )
    return values


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def apply_cluster(profile: Profile, cluster: Any) -> tuple[Profile, dict[str, Any]]:
    """Replace the profile's pools with the cluster's and return the network values the cluster implies."""
    network: dict[str, Any] = {}
    cidrs, ports, dns = (
        _get(cluster, "api_server_cidrs"),
        _get(cluster, "api_server_ports"),
        _get(cluster, "dns_cidrs"),
    )
    if cidrs:
        network.setdefault("apiServer", {})["cidrs"] = list(cidrs)
    if ports:
        network.setdefault("apiServer", {})["ports"] = [int(p) for p in ports]
    if dns:
        network.setdefault("dns", {})["cidrs"] = list(dns)
    pools = _get(cluster, "pools")
    if pools:
        doc = {
            "name": profile.name,
            "description": profile.description,
            "sources": list(profile.sources),
            "syscall_backend": profile.syscall_backend,
            "audit_delivery": profile.audit_delivery,
            "pools": disjoint_cluster_pools(
                [dict(p) if isinstance(p, Mapping) else dict(vars(p)) for p in pools],
                _pool_label_order(cluster),
            ),
            "rates": {s: {"p50": r.p50, "p90": r.p90, "p99": r.p99} for s, r in profile.rates.items()},
            "sizing": {
                "percentile": profile.sizing.percentile,
                "margin": profile.sizing.margin,
                "queued_alerts": profile.sizing.queued_alerts,
                "strategy": profile.sizing.strategy,
                "floors": {
                    "cpu": format_cpu(profile.sizing.floor_cpu_millicores),
                    "memory": format_memory(profile.sizing.floor_memory_bytes),
                },
            },
        }
        profile = profile_from_dict(doc, origin=f"{profile.origin} + cluster pools")
    return profile, ({"network": network} if network else {})


def _typed(raw: str) -> Any:
    """Helm's ``--set`` typing: true/false, null, integers; everything else (``on``, ``1.5``, ``y``) is a string."""
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", raw):
        return int(raw)
    return raw


def parse_set(expr: str) -> dict[str, Any]:
    """``a.b[1].c=v`` -> nested dict/list, typed the way helm's ``--set`` does (``x={a,b}`` is a list)."""
    if "=" not in expr:
        raise UsageError(f"--set {expr!r}: expected key=value")
    path, raw = expr.split("=", 1)
    if not path:
        raise UsageError(f"--set {expr!r}: empty key")
    value: Any
    if raw.startswith("{") and raw.endswith("}"):
        value = [_typed(v) for v in raw[1:-1].split(",")] if raw[1:-1] else []
    else:
        value = _typed(raw)
    steps: list[str | int] = []
    for part in re.split(r"(?<!\\)\.", path):  # `a\.b` is one key containing a dot, as in helm
        part = part.replace("\\.", ".")
        m = _SET_KEY.match(part)
        if not m:
            raise UsageError(f"--set {expr!r}: cannot parse key part {part!r}")
        steps.append(m.group(1))
        steps += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return _nest(steps, value)


def _nest(steps: list[str | int], value: Any) -> Any:
    if not steps:
        return value
    head, rest = steps[0], steps[1:]
    if isinstance(head, int):
        items: list[Any] = [{} for _ in range(head)]
        items.append(_nest(rest, value))
        return items
    return {head: _nest(rest, value)}


def _merge_set(base: Any, override: Any) -> Any:
    """Like ``merge`` but list indexes from ``--set`` update elements instead of replacing the list."""
    if isinstance(override, list) and isinstance(base, list):
        out = list(base)
        for i, item in enumerate(override):
            if item == {} and i < len(out):
                continue
            if i < len(out):
                out[i] = _merge_set(out[i], item)
            else:
                out.extend({} for _ in range(i - len(out)))
                out.append(item)
        return out
    if isinstance(base, dict) and isinstance(override, dict):
        out_d = dict(base)
        for k, v in override.items():
            if v is None:
                out_d.pop(k, None)  # helm: --set key=null removes the key
            else:
                out_d[k] = _merge_set(out_d.get(k), v) if k in out_d else v
        return out_d
    return copy.deepcopy(override)


def _has_path(doc: Any, path: list[str]) -> bool:
    for step in path:
        if isinstance(doc, dict) and step in doc:
            doc = doc[step]
        elif isinstance(doc, list) and step.isdigit() and int(step) < len(doc):
            doc = doc[int(step)]
        else:
            return False
    return True


def load_values_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read values file {p}: {exc.strerror}") from exc
    try:
        doc = yaml.load(raw, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        where, problem = parse_error_where(p, exc, raw)
        raise UsageError(f"{where}: values file is not valid YAML: {problem}") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UsageError(f"values file {p}: top level must be a mapping, not {type(doc).__name__}")
    return doc


def check_values(values: dict[str, Any], *, inputs: Iterable[tuple[str, Any]] = ()) -> None:
    """Raise ``UsageError`` naming each rejected key/value (and the input it came from) per the chart schema."""
    problems = schema_errors(values, chart_values_schema())
    if not problems:
        return
    named: list[str] = []
    for line in problems:
        where = line.split(":", 1)[0]
        unknown = re.search(r"unknown key '([^']+)'", line)
        path = [] if where == "(top level)" else re.split(r"\.|\[|\]\.?", where.rstrip("]"))
        if unknown:
            path = [*path, unknown.group(1)]
        origin = next(
            (name for name, doc in reversed(list(inputs)) if _has_path(doc, [s for s in path if s])), None
        )
        named.append(f"{line} (from {origin})" if origin else line)
    more = f" (+{len(named) - 3} more)" if len(named) > 3 else ""
    raise UsageError(f"chart values rejected: {'; '.join(named[:3])}{more}")


def build_values(
    *,
    profile: str | Path | Profile,
    cluster: Any = None,
    cost_model: CostModel | str | Path | None = None,
    values_files: Iterable[str | Path] = (),
    sets: Iterable[str] = (),
    strategy: str | None = None,
) -> dict[str, Any]:
    """Complete chart values (chart defaults + profile sizing + cluster + files + ``--set``), schema-checked.
    ``strategy`` overrides the profile's sizing strategy (a module in ``falcoctl_py.sizing_strategies``)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if strategy:
        prof = dataclasses.replace(prof, sizing=dataclasses.replace(prof.sizing, strategy=strategy))
    cost = cost_model if isinstance(cost_model, CostModel) else load_cost_model(cost_model)
    network: dict[str, Any] = {}
    if cluster is not None:
        prof, network = apply_cluster(prof, cluster)
    sizing = size_profile(prof, cost)
    values = merge(chart_defaults(), profile_values(prof, sizing))
    values = merge(values, network)
    inputs: list[tuple[str, Any]] = []
    for vf in values_files:
        doc = load_values_file(vf)
        inputs.append((f"-f {vf}", doc))
        values = merge(values, doc)
    for expr in sets:
        doc = parse_set(expr)
        inputs.append((f"--set {expr}", doc))
        values = _merge_set(values, doc)
    check_values(values, inputs=inputs)
    if not isinstance(values, dict):  # pragma: no cover - merge of dicts is a dict
        raise FindingsError("chart values are not a mapping")
    return values
