"""Render: helm output parsed into manifests, kube-version normalisation, writing manifests to a directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from falcoctl_py.errors import FindingsError, HelmError, UsageError
from falcoctl_py.helm import Helm, find_helm
from falcoctl_py.render import (
    doc_id,
    dump_manifests,
    normalize_kube_version,
    parse_manifests,
    render,
    write_manifests,
)
from falcoctl_py.values import build_values


def require_helm() -> Helm:
    try:
        return Helm(find_helm())
    except HelmError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def test_normalize_kube_version() -> None:
    assert normalize_kube_version("1.30") == "1.30.0"
    assert normalize_kube_version("v1.35.2") == "1.35.2"
    with pytest.raises(UsageError, match="MAJOR.MINOR"):
        normalize_kube_version("latest")
    for outside in ("0.1", "1.24", "99.99"):
        with pytest.raises(UsageError, match=rf"for {outside} \(bundled: 1\.\d+\.0\.\.1\.\d+\.0\)"):
            normalize_kube_version(outside)


def test_parse_skips_empty_documents_and_rejects_non_mappings() -> None:
    docs = parse_manifests("---\n# Source: x\n---\nkind: A\nmetadata: {name: a}\n---\n")
    assert [doc_id(d) for d in docs] == ["A/a"]
    with pytest.raises(FindingsError, match="not a manifest"):
        parse_manifests("- just\n- a list\n")


@pytest.mark.helm
def test_render_release_and_namespace_apply() -> None:
    helm = require_helm()
    docs = render(
        build_values(profile="small"), release="sec", namespace="security", kube_version="1.35", helm=helm
    )
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    assert ds["metadata"]["namespace"] == "security"
    assert ds["metadata"]["labels"]["app.kubernetes.io/instance"] == "sec"


def test_write_and_dump_round_trip(tmp_path: Path) -> None:
    docs = [
        {"kind": "ConfigMap", "metadata": {"name": "a/b"}, "data": {"k": "y"}},
        {"kind": "Service", "metadata": {"name": "s"}},
    ]
    paths = write_manifests(docs, tmp_path / "out")
    assert [p.name for p in paths] == ["00-configmap-a_b.yaml", "01-service-s.yaml"]
    assert yaml.safe_load(paths[0].read_text()) == docs[0]
    assert list(yaml.safe_load_all(dump_manifests(docs))) == docs
