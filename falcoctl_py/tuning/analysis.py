"""Assemble a tuning run into the report document and its files (cost model, tuned rules, values, manifests).

Owns: the order of the analysis steps and the file layout of ``--out DIR``. Each step is a pure function in a
sibling module; this module feeds them and writes what they return. Nothing here measures anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import yaml

import engine
from falcoctl_py.errors import FindingsError
from falcoctl_py.tuning import guard, replay
from falcoctl_py.tuning.costmodel import build_cost_model
from falcoctl_py.tuning.declared import declared_exceptions
from falcoctl_py.tuning.noise import rank_rules
from falcoctl_py.tuning.overhead import Budget, NodeShape, node_overhead, pool_overhead
from falcoctl_py.tuning.pinned import rule_pins
from falcoctl_py.tuning.proposals import Proposal, propose, render_override
from falcoctl_py.tuning.report import write_reports
from falcoctl_py.tuning.samples import Interval, Sample, by_node, intervals


@dataclass(frozen=True)
class Options:
    rules: tuple[Path, ...]
    profile: str = "medium"
    budget: Budget = field(default_factory=Budget)
    allow_unguarded: bool = False
    min_per_hour: float = 60.0
    guard_files: tuple[Path, ...] = ()


def read_alerts(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise FindingsError(f"{path}:{lineno}: not a JSON alert: {exc}") from None
    return out


def replay_counts(ruleset: Any, events: Iterable[Any]) -> dict[str, int]:
    return guard.fired(ruleset, events)


def window_events(paths: dict[str, Path], counts: dict[str, float]) -> list[Any]:
    """The events the engine processed in the window, for before/after replays: per source, the recorded file
    cycled up to the count the engine reported (the feeder and the paced replay both cycle their files)."""
    from engine.sources.replay import ReplaySource

    events: list[Any] = []
    for source, path in paths.items():
        recorded = list(ReplaySource(path, name=source))
        wanted = int(counts.get(source, 0))
        if recorded and wanted:
            events.extend(recorded[i % len(recorded)] for i in range(wanted))
    return events


def _totals(per_engine: dict[str, list[Sample]]) -> tuple[dict[str, float], float]:
    """Events/s per source summed over engines (each over its own first..last sample), and drops in the window."""
    rates: dict[str, float] = {}
    drops = 0.0
    for node_samples in per_engine.values():
        ordered = sorted(node_samples, key=lambda s: s.t)
        first, last = ordered[0], ordered[-1]
        span = last.t - first.t
        if span <= 0:
            continue
        for source, total in last.events.items():
            rates[source] = rates.get(source, 0.0) + (total - first.events.get(source, 0.0)) / span
        drops += sum(last.drops.values()) - sum(first.drops.values())
    return rates, drops


def workload_noise(per_engine: dict[str, list[Sample]], *, limit: int = 20) -> list[dict[str, Any]]:
    """Matches per (rule, namespace, workload) over the window, summed over engines, from each engine's
    ``falcopy_rule_workload_matches_total`` (complete even where alert logs are cut): who makes the noise."""
    totals: dict[tuple[str, str, str], float] = {}
    for node_samples in per_engine.values():
        ordered = sorted(node_samples, key=lambda s: s.t)
        first, last = ordered[0], ordered[-1]
        for key, n in last.workload_matches.items():
            delta = n - first.workload_matches.get(key, 0.0) if len(ordered) > 1 else n
            if delta > 0:
                totals[key] = totals.get(key, 0.0) + delta
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"rule": r, "namespace": ns, "workload": w, "count": n} for (r, ns, w), n in top]


def _timeseries(ivs: Sequence[Interval]) -> list[dict[str, Any]]:
    return [{"t": round(iv.t, 3), "node": iv.node, "cpu_cores": iv.cpu_cores, "rss_bytes": iv.rss_bytes,
             "event_rates": iv.event_rates, "drop_rates": iv.drop_rates} for iv in ivs]


def default_cost_doc() -> dict[str, Any]:
    from falcoctl_py.resources import default_cost_model_path

    return orjson.loads(default_cost_model_path().read_bytes())


def recommended(profile: str, cost_doc: dict[str, Any]) -> dict[str, Any]:
    """Requests/limits per pool that the measured cost model gives for ``profile`` (the sizing model)."""
    from falcoctl_py.cost_model import cost_model_from_dict
    from falcoctl_py.profiles import load_profile
    from falcoctl_py.quantity import format_cpu, format_memory
    from falcoctl_py.sizing import size_profile

    result = size_profile(load_profile(profile), cost_model_from_dict(cost_doc, origin="measured"))
    return {p.facts.name: {"cpu_request": format_cpu(p.cpu_request_m), "cpu_limit": format_cpu(p.cpu_limit_m),
                           "memory_request": format_memory(p.memory_request_bytes),
                           "memory_limit": format_memory(p.memory_limit_bytes)} for p in result.pools}


CASCADE_ROUNDS = 2


def _cascade(screened: list[Proposal], tuned: Any, events: Sequence[Any], *, opts: Options,
             corpus: Sequence[guard.Scenario], declared: Any, extra: dict[str, tuple[str, ...]],
             duration: float) -> tuple[list[Proposal], Any]:
    """With first-match rules, an event an exception removes from one rule may now raise the next rule it
    matches (Falco does the same). Replay through the tuned rules and propose again for the rules that gained
    alerts, screened on top of the override so far, up to CASCADE_ROUNDS more rounds."""
    for _ in range(CASCADE_ROUNDS):
        bp = replay.base_pass(tuned, events, extra_fields=extra)
        done = {p.rule for p in screened if p.accepted and p.kind == "exception"}
        noise = [r for r in rank_rules(bp.alerts, window_seconds=max(duration, 1e-9), pins=rule_pins(tuned),
                                       extra_fields=extra) if r.rule not in done]
        more = [p for p in propose(noise, declared=declared, min_per_hour=opts.min_per_hour)
                if p.kind == "exception"]
        if not more:
            break
        rules: list[Path | tuple[str, str]] = [*opts.rules, ("tuned-rules.yaml", render_override(screened))]
        checked, _ = guard.screen(more, rules_files=rules, corpus=corpus, allow_unguarded=opts.allow_unguarded,
                                  noise_events=bp.events_by_rule, alerts=bp.alerts)
        screened = [*screened, *checked]
        tuned = guard.load_ruleset(opts.rules, render_override(screened))
        if not any(p.accepted for p in checked):
            break
    return screened, tuned


def analyse(*, samples: Sequence[Sample], idle_cpu_cores: float, idle_rss_bytes: float, duration: float,
            alerts: Sequence[dict[str, Any]], events: Sequence[Any], opts: Options, mode: str,
            shapes: dict[str, NodeShape] | None = None) -> tuple[dict[str, Any], list[Proposal], dict[str, Any]]:
    """The report document (minus files/accuracy), the screened proposals and the cost model."""
    per_engine = by_node(samples)
    ivs = sorted((iv for node_samples in per_engine.values() for iv in intervals(node_samples)), key=lambda i: i.t)
    shapes = shapes or {"local": NodeShape(cpu_cores=float(psutil.cpu_count() or 1),
                                           memory_bytes=float(psutil.virtual_memory().total))}
    per_node = {}
    for node in sorted({iv.node for iv in ivs}):
        node_ivs = [iv for iv in ivs if iv.node == node]
        per_node[node] = node_overhead(node, node_ivs[0].pool, node_ivs, shape=shapes[node], budget=opts.budget)
    cost = build_cost_model(ivs, idle_cores=idle_cpu_cores, idle_rss_bytes=idle_rss_bytes,
                            defaults=default_cost_doc(), engine_version=engine.__version__,
                            method="tune-local" if mode == "local" else "tune-cluster")
    base = guard.load_ruleset(opts.rules)
    declared = declared_exceptions(opts.rules)
    extra = {rule: tuple(f for d in exs for f in d.fields) for rule, exs in declared.items()}
    # Local windows replay their events, so every alert carries every identity field; in-cluster, the alerts
    # carry what the rules print.
    bp = replay.base_pass(base, events, extra_fields=extra) if events else None
    noise_alerts = bp.alerts if bp is not None else list(alerts)
    noise = rank_rules(noise_alerts, window_seconds=max(duration, 1e-9), pins=rule_pins(base), extra_fields=extra)
    proposals = propose(noise, declared=declared, min_per_hour=opts.min_per_hour)
    corpus = guard.load_corpus() + guard.upstream_corpora() + [sc for f in opts.guard_files
                                                               for sc in guard.user_guard(f)]
    screened, guard_report = guard.screen(proposals, rules_files=opts.rules, corpus=corpus,
                                          allow_unguarded=opts.allow_unguarded,
                                          noise_events=bp.events_by_rule if bp is not None else None,
                                          alerts=noise_alerts)
    tuned = guard.load_ruleset(opts.rules, render_override(screened))
    if bp is not None:
        screened, tuned = _cascade(screened, tuned, events, opts=opts, corpus=corpus, declared=declared,
                                   extra=extra, duration=duration)
    top = [r.rule for r in noise[:8]]
    if bp is not None:
        before = dict(bp.counts)
        after_counts, after_marks = replay.tuned_pass(tuned, events)
        after = dict(after_counts)
        vol = replay.volume(bp.marks, after_marks, duration=duration, rules=top)
    else:
        accepted = [p for p in screened if p.accepted and p.kind == "exception"]
        def kept(a: Any) -> bool:
            return not any(p.rule == a.get("rule") and p.row_matches(a.get("output_fields") or {}) for p in accepted)
        b_marks, a_marks = replay.alert_marks(alerts, kept)
        vol = replay.volume(b_marks, a_marks, duration=duration, rules=top)
        before, after = replay_counts(base, events), replay_counts(tuned, events)
    total_before, total_after = sum(before.values()), sum(after.values())
    rates, drops = _totals(per_engine)
    doc: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": mode,
        "duration_seconds": duration,
        "engine_version": engine.__version__,
        "rules_files": [str(p) for p in opts.rules],
        "budget": {"cpu_fraction": opts.budget.cpu_fraction, "memory_fraction": opts.budget.memory_fraction,
                   "percentile": opts.budget.percentile},
        "overhead": {"nodes": [o.to_dict() for o in per_node.values()], "pools": pool_overhead(per_node),
                     "recommended": recommended(opts.profile, cost)},
        "cost_model": cost,
        "timeseries": _timeseries(ivs),
        "events_per_second": rates,
        "drops_total": drops,
        "noise": {"total_alerts": len(alerts), "rules": [
            {"rule": r.rule, "source": r.source, "priority": r.priority, "count": r.count,
             "per_hour": r.per_hour, "pinned": list(r.pinned),
             "top_identities": [{"field": f, "value": v, "count": n} for f, v, n in r.top_identities],
             "explanations": [{"fields": list(e.fields), "values": list(e.values), "count": e.count,
                               "share": e.share} for e in r.explanations]} for r in noise],
            "volume": vol, "workloads": workload_noise(per_engine)},
        "proposals": [p.to_dict() for p in screened],
        "guard": guard_report,
        "verification": {
            "alerts_before": total_before, "alerts_after": total_after,
            "reduction": (1 - total_after / total_before) if total_before else 0.0,
            "per_rule": {r: [before.get(r, 0), after.get(r, 0)] for r in sorted(set(before) | set(after))},
        },
        "files": {},
    }
    return doc, screened, cost


def write_outputs(doc: dict[str, Any], screened: Sequence[Proposal], cost: dict[str, Any], *, out_dir: Path,
                  profile: str, kube_version: str = "1.35") -> dict[str, Path]:
    """cost-model.json, tuned-rules.yaml, values.yaml, manifests.yaml and the three reports."""
    from falcoctl_py.render import dump_manifests, render
    from falcoctl_py.values import build_values

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"cost_model": out_dir / "cost-model.json", "tuned_rules": out_dir / "tuned-rules.yaml",
             "values": out_dir / "values.yaml", "manifests": out_dir / "manifests.yaml"}
    files["cost_model"].write_bytes(orjson.dumps(cost, option=orjson.OPT_INDENT_2) + b"\n")
    files["tuned_rules"].write_text(render_override(
        screened, header="Generated by falcoctl-py tune: exceptions that remove measured noise without losing\n"
                         "a guard detection. Load after the unmodified base rules (--rules BASE --rules THIS)."))
    values = build_values(profile=profile, cost_model=files["cost_model"])
    files["values"].write_text(yaml.safe_dump(values, sort_keys=False))
    files["manifests"].write_text(dump_manifests(render(values, kube_version=kube_version)))
    doc["files"] = {k: str(v) for k, v in files.items()} | {
        "report_json": str(out_dir / "report.json"), "report_markdown": str(out_dir / "report.md"),
        "report_html": str(out_dir / "report.html")}
    write_reports(doc, out_dir)
    return files
