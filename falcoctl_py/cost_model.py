"""The engine's cost model: CPU per 1,000 events per source and memory per tracked item, each with its spread.

Owns: loading and validating cost-model documents (``falcoctl_py/schemas/cost-model.schema.json``, documented in
``docs/sizing.md``; the tuning loop writes them) into a frozen ``CostModel``, and the shipped default. It must not
size anything (``falcoctl_py.sizing``) or measure anything (``falcoctl_py.tuning``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from falcoctl_py.errors import FindingsError, parse_error_where
from falcoctl_py.resources import cost_model_schema, default_cost_model_path
from falcoctl_py.schema_check import schema_errors

SOURCES = ("k8s_audit", "syscall")
MEMORY_TERMS = ("base_bytes", "per_process_bytes", "per_pod_bytes", "per_queued_alert_bytes")


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    spread: float
    samples: int
    estimate: bool
    how: str


@dataclass(frozen=True, slots=True)
class CostModel:
    engine_version: str
    measured_at: str
    method: str
    cpu_seconds_per_1k: dict[str, Estimate]
    memory: dict[str, Estimate]
    origin: str

    def cpu_millicores_for(self, source: str, events_per_second: float) -> float:
        """CPU (millicores) to process ``events_per_second`` of ``source``."""
        return events_per_second * self.cpu_seconds_per_1k[source].value  # (eps/1000 * s) * 1000 m

    @property
    def estimated_terms(self) -> list[str]:
        """Names of the terms that are estimates, not measurements (reports show them as such)."""
        out = [f"cpu_seconds_per_1k_events.{s}" for s, e in self.cpu_seconds_per_1k.items() if e.estimate]
        return out + [f"memory.{k}" for k, e in self.memory.items() if e.estimate]


def _estimate(doc: dict[str, Any]) -> Estimate:
    return Estimate(
        value=float(doc["value"]),
        spread=float(doc["spread"]),
        samples=int(doc["samples"]),
        estimate=bool(doc["estimate"]),
        how=str(doc["how"]),
    )


def cost_model_from_dict(doc: Any, *, origin: str = "<data>") -> CostModel:
    """Validate a parsed document; ``FindingsError`` (exit 1) lists every problem with its location."""
    problems = schema_errors(doc, cost_model_schema())
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FindingsError(f"cost model {origin} is invalid: {'; '.join(problems[:3])}{more}")
    return CostModel(
        engine_version=doc["engine_version"],
        measured_at=doc["measured_at"],
        method=doc["method"],
        cpu_seconds_per_1k={s: _estimate(doc["cpu_seconds_per_1k_events"][s]) for s in SOURCES},
        memory={k: _estimate(doc["memory"][k]) for k in MEMORY_TERMS},
        origin=origin,
    )


def load_cost_model(path: str | Path | None = None) -> CostModel:
    """Load ``path`` (JSON or YAML), or the shipped default when ``None``."""
    target = Path(path) if path is not None else default_cost_model_path()
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise FindingsError(f"cannot read cost model {target}: {exc.strerror}") from exc
    as_json = target.suffix == ".json"
    try:
        doc = orjson.loads(raw) if as_json else yaml.load(raw, Loader=yaml.CSafeLoader)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        where, problem = parse_error_where(target, exc, raw)
        raise FindingsError(
            f"{where}: cost model is not valid {'JSON' if as_json else 'YAML'}: {problem}"
        ) from exc
    return cost_model_from_dict(doc, origin=str(target))
