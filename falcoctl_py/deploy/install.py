"""``install``: preflight -> facts -> values -> render -> schema check -> diff -> namespace/cert -> helm -> rollout
-> health.

Owns the step order, the dry-run rule (no mutating API call: only reads, access reviews and ``helm get``), and
keeping the user's earlier overrides: the ``-f``/``--set`` inputs of the last install are stored in a ConfigMap
``<release>-falcoctl-inputs`` and replayed under the new ones (a ``--set`` for the same key replaces the old).
``helm get values`` is read back to show which deployed values change. It must not print or run helm itself
(runners and callbacks are injected).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from falcoctl_py import values as values_mod
from falcoctl_py.deploy import image_check, steps
from falcoctl_py.deploy.diff import ManifestDiff, diff_manifests
from falcoctl_py.errors import ClusterError, FindingsError, UnreachableError
from falcoctl_py.helm import upgrade_install_args
from falcoctl_py.k8s import Kube, facts_from, objects, preflight
from falcoctl_py.k8s.rollout import RolloutState
from falcoctl_py.render import DEFAULT_KUBE_VERSION, render
from falcoctl_py.resources import chart_dir
from falcoctl_py.validate import check_manifests

INPUTS_SUFFIX = "-falcoctl-inputs"


@dataclass(frozen=True)
class InstallOptions:
    target: steps.Target
    profile: str = "small"
    cost_model: str | None = None
    values_files: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    dry_run: bool = False
    timeout: float = 300.0
    image: str | None = None  # --image REPO[:TAG][@DIGEST]: replayed by later installs like a --set
    # None: resolve the image in its registry before deploying and pin its digest; else why that is skipped, in
    # the words shown to the user ("--no-image-check", or the caller's own reason)
    skip_image_check: str | None = None


@dataclass
class InstallResult:
    manifests: list[dict[str, Any]]
    diff: ManifestDiff | None
    helm_argv: list[str] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    image_digest: str | None = None
    value_changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    applied: bool = False


@dataclass
class Callbacks:
    say: Callable[[str], None] = lambda s: None
    confirm: Callable[[str], bool] = lambda s: False
    on_rollout: Callable[[RolloutState], None] = lambda s: None
    show_plan: Callable[[InstallResult], None] = lambda r: None  # before the prompt (and on --dry-run)


def _sets(opts: InstallOptions) -> tuple[str, ...]:
    """``--set`` inputs with ``--image`` expanded (after them: the flag wins)."""
    return opts.sets + (image_check.image_sets(opts.image) if opts.image else ())


def _set_key(expr: str) -> str:
    return expr.split("=", 1)[0]


def stored_profile(kube: Kube, target: steps.Target) -> str | None:
    """The profile the last install used (``upgrade`` re-sizes with it)."""
    cm = objects.read_configmap(kube, target.namespace, target.release + INPUTS_SUFFIX)
    return (cm.data or {}).get("profile") if cm is not None else None


def stored_inputs(kube: Kube, target: steps.Target) -> tuple[dict[str, Any], list[str]]:
    cm = objects.read_configmap(kube, target.namespace, target.release + INPUTS_SUFFIX)
    if cm is None or not cm.data:
        return {}, []
    try:
        doc = yaml.safe_load(cm.data.get("values.yaml") or "{}") or {}
        sets = yaml.safe_load(cm.data.get("sets.yaml") or "[]") or []
    except yaml.YAMLError as exc:
        raise ClusterError(
            f"configmap {target.namespace}/{target.release}{INPUTS_SUFFIX} is not YAML"
        ) from exc
    return (doc if isinstance(doc, dict) else {}), [str(s) for s in sets]


def merged_inputs(
    old_doc: dict[str, Any], old_sets: list[str], files: tuple[str, ...], sets: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """Earlier overrides under the new ones; a new ``--set`` replaces an old one for the same key."""
    doc: Any = old_doc
    for f in files:
        doc = values_mod.merge(doc, values_mod.load_values_file(f))
    new_keys = {_set_key(s) for s in sets}
    return (doc if isinstance(doc, dict) else {}), [
        s for s in old_sets if _set_key(s) not in new_keys
    ] + list(sets)


def _leaf_changes(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += _leaf_changes(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if old == new else [f"{path}: {orjson.dumps(old).decode()} -> {orjson.dumps(new).decode()}"]


def _values(opts: InstallOptions, doc: dict[str, Any], sets: list[str], *, cluster: Any, tmp: Path) -> dict[str, Any]:
    """Chart values from the profile, the cluster's facts (None: the profile alone) and the merged user inputs."""
    inputs_file = tmp / "inputs.yaml"
    inputs_file.write_text(yaml.safe_dump(doc))
    return values_mod.build_values(
        profile=opts.profile,
        cluster=cluster,
        cost_model=opts.cost_model,
        values_files=[inputs_file] if doc else [],
        sets=sets,
    )


def _image_ref(image: object) -> tuple[object, ...]:
    fields = image if isinstance(image, dict) else {}
    return tuple(fields.get(k) for k in ("registry", "repository", "tag"))


def _pinned(opts: InstallOptions, vals: dict[str, Any], kube: Kube | None, cb: Callbacks,
            deployed: dict[str, Any] | None = None) -> str | None:
    """Check the image exists in its registry (refusing if not) and pin the chart to the digest found. Skipped,
    the digest the release runs is kept when the image reference is unchanged (a re-size must not move it)."""
    if opts.skip_image_check is not None:
        live = (deployed or {}).get("image")
        digest = live.get("digest") if isinstance(live, dict) else None
        if digest and _image_ref(live) == _image_ref(vals.get("image")):
            vals["image"] = {**vals.get("image", {}), "digest": digest}
            cb.say(f"image check skipped ({opts.skip_image_check}): keeping the digest the release runs, {digest}")
            return str(digest)
        cb.say(f"image check skipped ({opts.skip_image_check}): the image is not verified")
        return None
    found = image_check.check_image(vals, kube=kube, namespace=opts.target.namespace, dry_run=opts.dry_run,
                                    app_version=image_check.chart_app_version(), say=cb.say)
    if found.digest is not None:
        vals["image"] = {**vals.get("image", {}), "digest": found.digest}
    return found.digest


def _render_checked(vals: dict[str, Any], kube_version: str, t: steps.Target) -> list[dict[str, Any]]:
    docs = render(vals, kube_version=kube_version, release=t.release, namespace=t.namespace)
    check = check_manifests(docs, kube_version=kube_version)
    if not check.ok:
        raise FindingsError(f"rendered manifests rejected: {check.errors[0]} ({check.summary()})")
    return docs


def _offline_dry_run(opts: InstallOptions, cb: Callbacks, server: str) -> InstallResult:
    """``--dry-run`` without a reachable cluster: manifests sized from the profile alone, no diff."""
    cb.say(f"warning: cluster {server} unreachable: sizing from the profile {opts.profile} alone, no diff")
    with tempfile.TemporaryDirectory(prefix="falcoctl-") as tmp:
        vals = _values(opts, *merged_inputs({}, [], opts.values_files, _sets(opts)), cluster=None, tmp=Path(tmp))
    digest = _pinned(opts, vals, None, cb)
    result = InstallResult(
        manifests=_render_checked(vals, DEFAULT_KUBE_VERSION, opts.target), diff=None, values=vals,
        image_digest=digest,
    )
    cb.show_plan(result)
    return result


def plan_and_apply(kube: Kube, helm: steps.HelmRunner, opts: InstallOptions, cb: Callbacks) -> InstallResult:
    t = opts.target
    try:
        report = preflight.preflight(kube, namespace=t.namespace)
    except UnreachableError:
        if not opts.dry_run:
            raise
        return _offline_dry_run(opts, cb, kube.server)
    cb.say(f"cluster {report.server}: Kubernetes {report.server_version}, {report.node_count} node(s)")
    if report.denied:
        raise ClusterError("missing permission: " + "; ".join(p.line() for p in report.denied[:3]))
    if report.unknown:
        cb.say(
            f"{len(report.unknown)} permission check(s) got no answer from the server: unknown, not verified"
        )
    facts = facts_from(kube)
    old_doc, old_sets = stored_inputs(kube, t)
    doc, sets = merged_inputs(old_doc, old_sets, opts.values_files, _sets(opts))
    with tempfile.TemporaryDirectory(prefix="falcoctl-") as tmp:
        vals = _values(opts, doc, sets, cluster=facts, tmp=Path(tmp))
        skipped = opts.skip_image_check is not None  # then the live digest is kept: read the release first
        deployed = steps.live_values(helm, t) if skipped else None
        digest = _pinned(opts, vals, kube, cb, deployed)  # before anything is applied
        docs = _render_checked(vals, facts.kube_version, t)
        if not skipped:
            deployed = steps.live_values(helm, t)
        result = InstallResult(manifests=docs, diff=None, values=vals, image_digest=digest)
        result.diff = diff_manifests(steps.live_manifests(helm, t), docs, namespace=t.namespace)
        if deployed is not None:
            result.value_changes = _leaf_changes(deployed, vals)
        cb.say(f"diff against the live release: {result.diff.summary()}")
        values_file = Path(tmp) / "values.json"
        values_file.write_bytes(orjson.dumps(vals))
        argv = upgrade_install_args(
            t.release, chart_dir(), values_file=values_file, timeout=opts.timeout, **t.helm_common()
        )
        result.helm_argv = argv
        cb.show_plan(result)
        if opts.dry_run:
            return result
        if not cb.confirm(f"apply {result.diff.summary()} to release {t.release} in {t.namespace}?"):
            raise ClusterError("aborted: not confirmed (use --yes to skip the prompt)")
        level = steps.pod_security_level(vals)
        cb.say(
            f"namespace {t.namespace}: {objects.ensure_namespace(kube, t.namespace, level=level)} ({level})"
        )
        if steps.webhook_enabled(vals):
            service = f"{t.release}-webhook"
            cb.say(f"webhook TLS secret: {steps.ensure_webhook_tls(kube, t, service=service)}")
        helm.run(argv)
        _store_inputs(kube, t, doc, sets, profile=opts.profile)  # only what helm accepted is replayed later
    result.applied = True
    result.problems = steps.watch_and_verify(
        kube, t, steps.daemonset_names(docs), timeout=opts.timeout, on_progress=cb.on_rollout, say=cb.say
    )
    return result


def _store_inputs(kube: Kube, t: steps.Target, doc: dict[str, Any], sets: list[str], *, profile: str) -> None:
    name = t.release + INPUTS_SUFFIX
    data = {"values.yaml": yaml.safe_dump(doc), "sets.yaml": yaml.safe_dump(sets), "profile": profile}
    if objects.read_configmap(kube, t.namespace, name) is None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": data,
            "metadata": {
                "name": name,
                "namespace": t.namespace,
                "labels": {"app.kubernetes.io/managed-by": "falcoctl-py"},
            },
        }
        kube.call(
            f"creating configmap {t.namespace}/{name}",
            kube.core().create_namespaced_config_map,
            t.namespace,
            body,
        )
    else:
        objects.replace_configmap_data(kube, t.namespace, name, data)
