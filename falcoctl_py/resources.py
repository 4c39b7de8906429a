"""Where the CLI's package data lives: the chart, the profiles, the default cost model, the JSON schemas.

Owns: resolving those paths the same way from a source checkout and from an installed wheel (the wheel carries
them under ``falcoctl_py/data``; in a checkout that directory holds symlinks to ``charts/`` and ``profiles/``).
It must not read or interpret the files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson

_PKG = Path(__file__).resolve().parent
DATA = _PKG / "data"
SCHEMAS = _PKG / "schemas"


def chart_dir() -> Path:
    """The ``falco-py`` chart directory (contains ``Chart.yaml``)."""
    return (DATA / "charts" / "falco-py").resolve()


def profiles_dir() -> Path:
    return (DATA / "profiles").resolve()


def default_cost_model_path() -> Path:
    return DATA / "cost-model.default.json"


@cache
def load_json_schema(path: str) -> dict[str, Any]:
    """Parse a JSON schema once per process."""
    parsed: dict[str, Any] = orjson.loads(Path(path).read_bytes())
    return parsed


def chart_values_schema() -> dict[str, Any]:
    return load_json_schema(str(chart_dir() / "values.schema.json"))


def cost_model_schema() -> dict[str, Any]:
    return load_json_schema(str(SCHEMAS / "cost-model.schema.json"))


def profile_schema() -> dict[str, Any]:
    return load_json_schema(str(profiles_dir() / "profile.schema.json"))
