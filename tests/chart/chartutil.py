"""Helpers shared by the chart tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.resources import chart_dir

CHART = chart_dir()
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
PROFILES = ["small", "medium", "large", "audit-only"]
KUBE_VERSIONS = ["1.30", "1.35"]


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def ci_id(path: Path) -> str:
    return path.stem
