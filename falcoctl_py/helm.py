"""The one module that runs the helm binary (Helm 4).

Owns: finding the binary (``find_helm``), building argv lists for every helm call the CLI makes (pure functions,
unit-tested without helm), running them, and turning a failed run into ``HelmError`` (exit 3) carrying helm's own
one-line reason. It must not parse manifests (``falcoctl_py.render``), build values (``falcoctl_py.values``) or
talk to the Kubernetes API (``falcoctl_py.k8s``).

Helm 4 notes: ``--atomic`` is deprecated, ``--rollback-on-failure`` replaces it and ``--wait`` takes a strategy
(``watcher``, ``hookOnly``, ``legacy``).

Public API (stable, used by the cluster commands):

- ``find_helm() -> Path``: ``$FALCOPY_HELM``, then ``helm`` on PATH, then the virtualenv's ``bin/helm``.
- ``Helm(binary=None)``: ``.run(args) -> str`` (stdout), ``.template(chart, values, *, release, namespace,
  kube_version, api_versions=()) -> str``, ``.lint(chart, *, strict=True, values_files=()) -> str``,
  ``.install_dry_run_client(chart, values, *, release, namespace) -> str``, ``.version()``.
- argv builders: ``upgrade_install_args``, ``rollback_args``, ``uninstall_args``, ``get_values_args``,
  ``get_manifest_args``, ``history_args`` (each returns the argv *after* the binary).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from falcoctl_py.errors import HelmError

ENV_HELM = "FALCOPY_HELM"
DEFAULT_TIMEOUT_S = 300.0
WAIT_STRATEGIES = ("watcher", "hookOnly", "legacy")


def find_helm() -> Path:
    """Locate the helm binary; raise ``HelmError`` naming where we looked."""
    env = os.environ.get(ENV_HELM)
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise HelmError(f"{ENV_HELM}={env} is not an executable file")
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    venv_helm = Path(sys.prefix) / "bin" / "helm"
    if venv_helm.is_file() and os.access(venv_helm, os.X_OK):
        return venv_helm
    raise HelmError(f"helm not found (looked at ${ENV_HELM}, PATH and {venv_helm}); run `make setup`")


def _reason(stderr: str, returncode: int) -> str:
    """Helm's own reason on one line: the last 'Error:' line, with the detail lines helm lists under it (schema
    violations) joined in; else the last non-empty line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Error:"):
            head = lines[i][len("Error:") :].strip()
            detail = [ln.lstrip("- ") for ln in lines[i + 1 :] if not ln.startswith("Use --debug")]
            return f"{head} {'; '.join(detail)}".strip() if detail else head
    return lines[-1] if lines else f"helm exited with status {returncode}"


def _common(*, namespace: str | None, kube_context: str | None, kubeconfig: str | None) -> list[str]:
    args: list[str] = []
    if namespace:
        args += ["--namespace", namespace]
    if kube_context:
        args += ["--kube-context", kube_context]
    if kubeconfig:
        args += ["--kubeconfig", str(kubeconfig)]
    return args


def _duration(seconds: float) -> str:
    return f"{round(seconds)}s"


def upgrade_install_args(
    release: str,
    chart: str | Path,
    *,
    namespace: str,
    values_file: str | Path,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    wait: str = "watcher",
    rollback_on_failure: bool = True,
    create_namespace: bool = False,
) -> list[str]:
    """``helm upgrade --install`` with Helm 4's rollback-on-failure and wait strategy."""
    if wait not in WAIT_STRATEGIES:
        raise ValueError(f"wait strategy must be one of {', '.join(WAIT_STRATEGIES)}, not {wait!r}")
    args = [
        "upgrade",
        "--install",
        release,
        str(chart),
        "--values",
        str(values_file),
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
        f"--wait={wait}",
        "--timeout",
        _duration(timeout),
    ]
    if rollback_on_failure:
        args.append("--rollback-on-failure")
    if create_namespace:
        args.append("--create-namespace")
    return args


def rollback_args(
    release: str,
    revision: int | None = None,
    *,
    namespace: str,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    wait: str = "watcher",
) -> list[str]:
    """``helm rollback RELEASE [REVISION]``; no revision means the previous one."""
    args = ["rollback", release]
    if revision is not None:
        if revision < 1:
            raise ValueError(f"revision must be >= 1, not {revision}")
        args.append(str(revision))
    return args + [
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
        f"--wait={wait}",
        "--timeout",
        _duration(timeout),
    ]


def uninstall_args(
    release: str,
    *,
    namespace: str,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    wait: bool = True,
) -> list[str]:
    args = [
        "uninstall",
        release,
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
        "--timeout",
        _duration(timeout),
    ]
    if wait:
        args.append("--wait")
    return args


def get_values_args(
    release: str,
    *,
    namespace: str,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    all_values: bool = False,
    revision: int | None = None,
) -> list[str]:
    """``helm get values -o json`` (user-supplied values, or all computed values)."""
    args = [
        "get",
        "values",
        release,
        "--output",
        "json",
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
    ]
    if all_values:
        args.append("--all")
    if revision is not None:
        args += ["--revision", str(revision)]
    return args


def get_manifest_args(
    release: str,
    *,
    namespace: str,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    revision: int | None = None,
) -> list[str]:
    args = [
        "get",
        "manifest",
        release,
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
    ]
    if revision is not None:
        args += ["--revision", str(revision)]
    return args


def history_args(
    release: str,
    *,
    namespace: str,
    kube_context: str | None = None,
    kubeconfig: str | None = None,
    max_revisions: int = 20,
) -> list[str]:
    return [
        "history",
        release,
        "--output",
        "json",
        "--max",
        str(max_revisions),
        *_common(namespace=namespace, kube_context=kube_context, kubeconfig=kubeconfig),
    ]


def template_args(
    chart: str | Path,
    values_file: str | Path,
    *,
    release: str,
    namespace: str,
    kube_version: str | None = None,
    api_versions: Iterable[str] = (),
) -> list[str]:
    args = ["template", release, str(chart), "--namespace", namespace, "--values", str(values_file)]
    if kube_version:
        args += ["--kube-version", kube_version]
    for api in api_versions:
        args += ["--api-versions", api]
    return args


def lint_args(
    chart: str | Path, *, strict: bool = True, values_files: Sequence[str | Path] = ()
) -> list[str]:
    args = ["lint", str(chart)]
    if strict:
        args.append("--strict")
    for vf in values_files:
        args += ["--values", str(vf)]
    return args


class Helm:
    """Runs helm; every method returns helm's stdout or raises ``HelmError`` with helm's one-line reason."""

    def __init__(self, binary: str | Path | None = None, *, timeout: float = DEFAULT_TIMEOUT_S + 60) -> None:
        self.binary = Path(binary) if binary else find_helm()
        self.timeout = timeout

    def run(self, args: Sequence[str]) -> str:
        argv = [str(self.binary), *args]
        env = dict(os.environ)
        env.setdefault("HELM_CACHE_HOME", str(Path(tempfile.gettempdir()) / "falcopy-helm-cache"))
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout, env=env, check=False
            )
        except FileNotFoundError as exc:
            raise HelmError(f"helm binary {self.binary} cannot be run: {exc.strerror}") from exc
        except subprocess.TimeoutExpired as exc:
            raise HelmError(f"helm {args[0] if args else ''} timed out after {self.timeout:.0f}s") from exc
        if proc.returncode != 0:
            raise HelmError(
                f"helm {args[0] if args else ''}: {_reason(proc.stderr or proc.stdout, proc.returncode)}"
            )
        return proc.stdout

    def version(self) -> str:
        return self.run(["version", "--short"]).strip()

    def _with_values(self, values: Mapping[str, Any]) -> tempfile._TemporaryFileWrapper[bytes]:
        # JSON, not YAML: helm's YAML 1.1 reader would turn an unquoted `y`/`on`/`no` into a boolean.
        tmp = tempfile.NamedTemporaryFile("wb", suffix=".json", prefix="falcopy-values-")  # noqa: SIM115 - caller closes
        tmp.write(orjson.dumps(dict(values)))
        tmp.flush()
        return tmp

    def template(
        self,
        chart: str | Path,
        values: Mapping[str, Any],
        *,
        release: str,
        namespace: str,
        kube_version: str | None = None,
        api_versions: Iterable[str] = (),
    ) -> str:
        """Render the chart offline; returns the multi-document YAML."""
        with self._with_values(values) as tmp:
            return self.run(
                template_args(
                    chart,
                    tmp.name,
                    release=release,
                    namespace=namespace,
                    kube_version=kube_version,
                    api_versions=api_versions,
                )
            )

    def lint(self, chart: str | Path, *, strict: bool = True, values_files: Sequence[str | Path] = ()) -> str:
        return self.run(lint_args(chart, strict=strict, values_files=values_files))

    def install_dry_run_client(
        self, chart: str | Path, values: Mapping[str, Any], *, release: str, namespace: str
    ) -> str:
        """``helm install --dry-run=client``: renders with hooks and NOTES, needs no cluster. (``helm install``
        has no ``--kube-version``; use ``template`` to render for a given Kubernetes version.)"""
        with self._with_values(values) as tmp:
            return self.run(
                [
                    "install",
                    release,
                    str(chart),
                    "--dry-run=client",
                    "--namespace",
                    namespace,
                    "--values",
                    tmp.name,
                ]
            )
