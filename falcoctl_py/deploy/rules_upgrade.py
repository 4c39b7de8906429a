"""``upgrade --rules``: validate rules files with the engine's loader, check ``required_engine_version`` against
the deployed engines, replace the rules ConfigMap, and confirm every pod hot-reloaded them.

Owns: finding the release's rules and config ConfigMaps, the expected checksum (the loader's sha256 over the files
in the order the pods load them: bundled defaults first when ``default_rules`` is on, then the rules directory in
name order) and the reload confirmation through ``falcopy_build_info{rules_checksum}``. It never touches a pod
template: DaemonSet generations are compared before and after. It must not print.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.deploy.steps import Target
from falcoctl_py.errors import ClusterError, FindingsError, UsageError
from falcoctl_py.k8s import Kube, objects
from falcoctl_py.k8s import metrics as kmetrics

POLL_S = 2.0


@dataclass
class RulesUpgradeResult:
    checksum: str
    configmap: str
    confirmed: list[str] = field(default_factory=list)
    previous_files: list[str] = field(default_factory=list)
    applied: bool = False


def version_tuple(text: str) -> tuple[int, int, int]:
    """Falco's forms: ``0.57.0`` or an integer N meaning ``0.N.0``."""
    raw = str(text).strip().lstrip("v")
    if raw.isdigit():
        return (0, int(raw), 0)
    parts = raw.split("-", 1)[0].split("+", 1)[0].split(".")
    try:
        nums = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
    except ValueError as exc:
        raise FindingsError(f"engine version {text!r} is not a version") from exc
    return (nums[0], nums[1], nums[2])


def required_engine_versions(files: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for name, text in files.items():
        for item in yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or []:
            if isinstance(item, dict) and "required_engine_version" in item:
                out.append((name, str(item["required_engine_version"])))
    return out


def _release_configmap(kube: Kube, t: Target, suffix: str) -> Any:
    items: list[Any] = kube.call(
        f"listing configmaps in {t.namespace}",
        kube.core().list_namespaced_config_map,
        t.namespace,
        label_selector=f"app.kubernetes.io/instance={t.release}",
    ).items
    found = [
        c
        for c in items
        if (c.metadata.labels or {}).get("app.kubernetes.io/instance") == t.release
        and c.metadata.name.endswith(suffix)
    ]
    if not found:
        raise ClusterError(
            f"no *{suffix} configmap of release {t.release} in {t.namespace}: is it installed?"
        )
    return found[0]


def default_rules_on(config_cm: Any) -> bool:
    for text in (config_cm.data or {}).values():
        doc = yaml.safe_load(text) or {}
        if isinstance(doc, dict) and doc.get("default_rules") is False:
            return False
    return True


def _rejected(result: Any) -> FindingsError:
    """The loader's first error as a one-line finding: ``file:line:col: ...`` (exit 1)."""
    first = result.errors[0] if result.errors else None
    if first is None:
        return FindingsError("rules rejected by the engine's loader: load failed")
    where = ":".join(str(x) for x in (first.file, first.line, first.column) if x not in (None, ""))
    item = f" {first.item_type} '{first.item_name}'" if first.item_name else ""
    return FindingsError(
        f"{where + ': ' if where else ''}rules rejected by the engine's loader: {first.code}{item}: "
        f"{first.message} ({len(result.errors)} error(s))"
    )


def _load(sources: list[Any], *, with_defaults: bool) -> Any:
    from engine.rules import load_rules
    from falcoctl_py.cli.engine import default_rules_files

    return load_rules((list(default_rules_files()) if with_defaults else []) + sources)


def read_rules_files(rule_files: list[Path]) -> dict[str, str]:
    """``{file name: text}`` as the rules ConfigMap keys them."""
    files: dict[str, str] = {}
    for path in rule_files:
        if path.name in files:
            raise UsageError(f"--rules: two files named {path.name}; the ConfigMap keys them by file name")
        try:
            files[path.name] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--rules {path}: {exc.strerror or exc}") from exc
    return files


def validate_rules(rule_files: list[Path]) -> dict[str, str]:
    """Read and load the rules files with the engine's loader before anything touches the cluster.

    Whether the release loads the bundled defaults first is known only from the cluster, so the files must load
    with the defaults or alone; when neither works the finding (as loaded with the defaults) is raised.
    ``expected_checksum`` loads them again the way the release will."""
    files = read_rules_files(rule_files)
    by_name = {p.name: str(p) for p in rule_files}
    sources: list[Any] = [(by_name[name], files[name]) for name in sorted(files)]
    with_defaults = _load(sources, with_defaults=True)
    if with_defaults.successful and with_defaults.ruleset is not None:
        return files
    alone = _load(sources, with_defaults=False)
    if alone.successful and alone.ruleset is not None:
        return files
    raise _rejected(with_defaults)


def expected_checksum(files: dict[str, str], *, with_defaults: bool) -> str:
    result = _load([(name, files[name]) for name in sorted(files)], with_defaults=with_defaults)
    if not result.successful or result.ruleset is None:
        raise _rejected(result)
    return str(result.ruleset.checksum)


def _daemonset_generations(kube: Kube, t: Target) -> dict[str, int]:
    return {
        d.metadata.name: int(d.metadata.generation or 0)
        for d in objects.list_daemonsets(kube, t.namespace, instance=t.release)
    }


def _release_pods(kube: Kube, t: Target) -> list[str]:
    names: list[str] = []
    for ds in objects.list_daemonsets(kube, t.namespace, instance=t.release):
        pods = objects.list_pods(kube, t.namespace, match_labels=dict(ds.spec.selector.match_labels or {}))
        names += [p.metadata.name for p in pods]
    return sorted(set(names))


def upgrade_rules(
    kube: Kube,
    t: Target,
    rule_files: list[Path],
    *,
    dry_run: bool = False,
    timeout: float = 120.0,
    say: Callable[[str], None] = lambda s: None,
) -> RulesUpgradeResult:
    files = validate_rules(rule_files)
    rules_cm = _release_configmap(kube, t, "-rules")
    with_defaults = default_rules_on(_release_configmap(kube, t, "-config"))
    checksum = expected_checksum(files, with_defaults=with_defaults)
    pods = _release_pods(kube, t)
    if not pods:
        raise ClusterError(f"release {t.release} has no engine pods in {t.namespace} to reload the rules")
    for name, required in required_engine_versions(files):
        for pod in pods:
            deployed = kmetrics.scrape(kube, t.namespace, pod).engine_version
            if deployed is None:
                raise ClusterError(f"pod {pod}: falcopy_build_info has no engine_version label")
            if version_tuple(deployed) < version_tuple(required):
                raise FindingsError(
                    f"{name}: required_engine_version {required} is newer than engine {deployed} on pod {pod}"
                )
    result = RulesUpgradeResult(
        checksum=checksum,
        configmap=rules_cm.metadata.name,
        previous_files=sorted((rules_cm.data or {}).keys()),
    )
    say(f"rules valid: {len(files)} file(s), checksum {checksum[:12]}; {len(pods)} pod(s) to reload")
    if dry_run:
        return result
    before = _daemonset_generations(kube, t)
    objects.replace_configmap_data(kube, t.namespace, rules_cm.metadata.name, files)
    result.applied = True
    if _daemonset_generations(kube, t) != before:
        raise ClusterError("a DaemonSet template changed during the rules update; pods will roll")
    deadline = time.monotonic() + timeout
    waiting = set(pods)
    last: dict[str, str | None] = {}
    while waiting:
        for pod, m in kmetrics.scrape_many(kube, t.namespace, sorted(waiting)).items():
            if isinstance(m, ClusterError):
                raise m
            last[pod] = m.rules_checksum
            if last[pod] == checksum:
                waiting.discard(pod)
                result.confirmed.append(pod)
        if not waiting:
            break
        if time.monotonic() >= deadline:
            stale = ", ".join(f"{p} ({(last.get(p) or 'none')[:12]})" for p in sorted(waiting))
            raise ClusterError(f"rules not reloaded after {timeout:.0f}s on: {stale}")
        time.sleep(POLL_S)
    say(f"all {len(result.confirmed)} pod(s) run rules {checksum[:12]}")
    return result
