"""Validate plain data against a JSON schema and describe every problem on one line each.

Owns: turning ``jsonschema`` errors into ``<where>: <path>: <problem>`` lines (unknown keys named by key). It must
not decide what happens on failure; callers raise the typed error that fits (usage, findings).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema
import orjson


@lru_cache(maxsize=32)
def _validator(schema_json: bytes) -> jsonschema.protocols.Validator:
    schema = orjson.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _leaf_errors(err: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if err.context:
        # anyOf/oneOf: report the branch that got furthest, not every alternative
        best = max(err.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > len(err.absolute_path):
            return _leaf_errors(best)
    return [err]


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation, sorted by location; unknown keys are named (``unknown key 'imgae'``)."""
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    lines: list[str] = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaf_errors(err):
            where = _path(leaf.absolute_path)
            if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                allowed = set((leaf.schema.get("properties") or {}).keys())
                for key in sorted(k for k in leaf.instance if k not in allowed):
                    lines.append(f"{where}: unknown key {key!r}")
                continue
            if leaf.validator == "not":
                lines.append(f"{where}: {leaf.instance!r} is reserved and cannot be set here")
                continue
            lines.append(f"{where}: {leaf.message}")
    return lines
