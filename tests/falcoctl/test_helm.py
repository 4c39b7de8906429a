"""The helm runner: finding the binary, Helm 4 argv builders, and helm's own reason in HelmError (exit 3)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from falcoctl_py import helm as helm_mod
from falcoctl_py.errors import EXIT_CLUSTER, HelmError
from falcoctl_py.helm import (
    Helm,
    find_helm,
    get_manifest_args,
    get_values_args,
    history_args,
    lint_args,
    rollback_args,
    template_args,
    uninstall_args,
    upgrade_install_args,
)


def test_upgrade_install_uses_helm4_flags() -> None:
    args = upgrade_install_args(
        "falco",
        "/c",
        namespace="sec",
        values_file="/v.json",
        kube_context="kind",
        kubeconfig="/k",
        timeout=120,
        create_namespace=True,
    )
    assert args[:4] == ["upgrade", "--install", "falco", "/c"]
    assert "--rollback-on-failure" in args and "--atomic" not in args
    assert "--wait=watcher" in args and "--create-namespace" in args
    assert args[args.index("--timeout") + 1] == "120s"
    assert args[args.index("--kube-context") + 1] == "kind" and args[args.index("--kubeconfig") + 1] == "/k"
    assert args[args.index("--namespace") + 1] == "sec" and args[args.index("--values") + 1] == "/v.json"
    plain = upgrade_install_args(
        "falco", "/c", namespace="sec", values_file="/v", rollback_on_failure=False, wait="legacy"
    )
    assert "--rollback-on-failure" not in plain and "--wait=legacy" in plain and "--kube-context" not in plain
    with pytest.raises(ValueError, match="wait strategy"):
        upgrade_install_args("falco", "/c", namespace="sec", values_file="/v", wait="forever")


def test_other_builders() -> None:
    assert rollback_args("r", 3, namespace="n")[:3] == ["rollback", "r", "3"]
    assert rollback_args("r", namespace="n")[2] == "--namespace"
    with pytest.raises(ValueError):
        rollback_args("r", 0, namespace="n")
    assert uninstall_args("r", namespace="n")[-1] == "--wait"
    assert get_values_args("r", namespace="n", all_values=True)[:5] == [
        "get",
        "values",
        "r",
        "--output",
        "json",
    ]
    assert "--all" in get_values_args("r", namespace="n", all_values=True)
    assert get_manifest_args("r", namespace="n", revision=2)[-2:] == ["--revision", "2"]
    assert history_args("r", namespace="n")[:5] == ["history", "r", "--output", "json", "--max"]
    t = template_args("/c", "/v", release="r", namespace="n", kube_version="1.30.0", api_versions=["a/v1"])
    assert t[t.index("--kube-version") + 1] == "1.30.0" and t[t.index("--api-versions") + 1] == "a/v1"
    assert lint_args("/c", values_files=["a", "b"]) == [
        "lint",
        "/c",
        "--strict",
        "--values",
        "a",
        "--values",
        "b",
    ]


def _fake_helm(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "helm"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_failure_carries_helms_reason_and_exit_3(tmp_path: Path) -> None:
    fake = _fake_helm(
        tmp_path,
        'echo "walking chart" >&2; echo "Error: UPGRADE FAILED: context deadline exceeded" >&2; exit 1\n',
    )
    with pytest.raises(HelmError) as info:
        Helm(fake).run(["upgrade", "x"])
    assert str(info.value) == "helm upgrade: UPGRADE FAILED: context deadline exceeded"
    assert info.value.exit_code == EXIT_CLUSTER


def test_multiline_schema_errors_joined_on_one_line(tmp_path: Path) -> None:
    fake = _fake_helm(
        tmp_path, "printf 'Error: values do not meet the schema:\\nfalco-py:\\n- at /a: bad\\n' >&2; exit 1\n"
    )
    with pytest.raises(HelmError) as info:
        Helm(fake).run(["template"])
    assert "\n" not in str(info.value) and "at /a: bad" in str(info.value)


def test_values_reach_helm_as_json(tmp_path: Path) -> None:
    fake = _fake_helm(tmp_path, 'while [ "$1" != "--values" ]; do shift; done; cat "$2"\n')
    out = Helm(fake).template("/chart", {"pool": "y", "on": "no"}, release="r", namespace="n")
    assert out == '{"pool":"y","on":"no"}'  # JSON keeps YAML-1.1 words like y/no as strings


def test_find_helm_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_helm(tmp_path, "exit 0\n")
    monkeypatch.setenv("FALCOPY_HELM", str(fake))
    assert find_helm() == fake
    monkeypatch.setenv("FALCOPY_HELM", str(tmp_path / "nope"))
    with pytest.raises(HelmError, match="not an executable"):
        find_helm()
    monkeypatch.delenv("FALCOPY_HELM")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_helm() == fake
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(helm_mod.sys, "prefix", str(tmp_path / "novenv"))
    with pytest.raises(HelmError, match="helm not found"):
        find_helm()


def test_missing_binary_is_helm_error(tmp_path: Path) -> None:
    with pytest.raises(HelmError, match="cannot be run"):
        Helm(tmp_path / "gone").run(["version"])


def test_real_helm_is_version_4() -> None:
    try:
        binary = find_helm()
    except HelmError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    assert Helm(binary).version().startswith("v4.")
