"""``-o yaml``: the report document as YAML (same shape as JSON)."""

from __future__ import annotations

from typing import Any

import yaml as pyyaml

NAME = "yaml"


def render(doc: dict[str, Any]) -> str:
    return pyyaml.dump(doc, Dumper=pyyaml.CSafeDumper, sort_keys=False)
