"""The tuning report: ``report.json`` (schema ``falcoctl_py/schemas/report.schema.json``), ``report.md`` and a
self-contained ``report.html`` with plots.

Owns: laying out a finished analysis for people and tools. It computes nothing new; every figure comes in the
report document built by the caller (``local`` / ``cluster``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from falcoctl_py.tuning.plots import bar_chart, line_chart
from falcoctl_py.tuning.report_rules import rules_html, rules_markdown


def schema() -> dict[str, Any]:
    text = resources.files("falcoctl_py").joinpath("schemas/report.schema.json").read_text()
    return json.loads(text)


def validate(doc: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``doc`` does not follow the documented schema."""
    jsonschema.Draft202012Validator(schema()).validate(doc)


def _mib(v: float) -> str:
    return f"{v / 2**20:.1f} MiB"


def summary_rows(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The one-screen summary, as (label, value) rows; shared by the terminal, Markdown and HTML."""
    ver = doc["verification"]
    guard = doc["guard"]
    rows = [("window", f"{doc['duration_seconds']:.0f} s, {doc['mode']}")]
    for node in doc["overhead"]["nodes"]:
        rows.append((f"engine on {node['node']}",
                     (f"CPU p95 {node['cpu_cores_p95'] * 1000:.0f}m ({node['cpu_fraction_p95']:.2%} of node), "
                     f"RSS p95 {_mib(node['rss_bytes_p95'])} ({node['memory_fraction_p95']:.2%}) — "
                     f"{node['verdict']}")))
    for source, rate in sorted(doc["events_per_second"].items()):
        rows.append((f"events/s {source}", f"{rate:,.0f}"))
    rows.append(("drops", f"{doc['drops_total']:,.0f}"))
    rows.append(("alerts before → after", (f"{ver['alerts_before']:,} → {ver['alerts_after']:,} "
                                          f"({ver['reduction']:.1%} fewer)")))
    accepted = sum(1 for p in doc["proposals"] if p["accepted"])
    rows.append(("proposals", f"{accepted} accepted, {len(doc['proposals']) - accepted} refused or flagged"))
    rows.append(("guard", f"{guard.get('counterfactual_checks', 0)} counterfactual/scenario checks, "
                          f"{guard.get('refused', 0)} refused"
                          + (f" ({', '.join(f'{k}: {v}' for k, v in guard['refused_reasons'].items())})"
                             if guard.get("refused_reasons") else "")
                          + (f", {guard['unguarded']} UNGUARDED" if guard.get("unguarded") else "")))
    rows.append(("guard detections", f"{guard['detections_before']} before, {guard['detections_after']} after"
                                     + (f", LOST {len(guard['lost'])}" if guard["lost"] else ", none lost")))
    acc = doc.get("accuracy")
    if acc:
        rows.append(("CPU accuracy", (f"engine {acc['engine_cpu_seconds']:.2f} s vs {acc['method']} "
                                     f"{acc['independent_cpu_seconds']:.2f} s ({acc['relative_error']:+.1%})")))
    t = doc.get("tuner_overhead")
    if t:
        rows.append(("tuner's own sampling", f"{t['fraction_of_core']:.2%} of a core"))
    return rows


def render_markdown(doc: Mapping[str, Any]) -> str:
    out = ["# falcoctl-py tuning report", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in summary_rows(doc)]
    out += ["", "## Noisiest rules", "", "| rule | alerts | per hour | after | explained by |", "|---|---:|---:|---:|---|"]
    after = doc["verification"]["per_rule"]
    for r in doc["noise"]["rules"][:15]:
        expl = "; ".join(", ".join(f"{f}={v}" for f, v in zip(e["fields"], e["values"])) + f" ({e['share']:.0%})"
                         for e in r["explanations"]) or "no dominant value"
        out.append(f"| {r['rule']} | {r['count']} | {r['per_hour']:.0f} | {after.get(r['rule'], [0, 0])[1]} | "
                   f"{expl} |")
    out += ["", "## Proposals", ""]
    for p in doc["proposals"]:
        status = "accepted" if p["accepted"] else "refused: " + "; ".join(p["refused_because"])
        what = (f"exception `{p['name']}` on {', '.join(p['fields'])} = {p['values']}" if p["kind"] == "exception"
                else "disable the rule")
        out.append(f"- **{p['rule']}**: {what} — {p['reason']} ({status})")
    out += rules_markdown(doc)
    out += ["", "## Files", ""] + [f"- `{v}`: {k}" for k, v in doc["files"].items()]
    return "\n".join(out) + "\n"


def render_html(doc: Mapping[str, Any]) -> str:
    ts = doc["timeseries"]
    cpu = {n: [(p["t"], p["cpu_cores"]) for p in ts if p["node"] == n] for n in sorted({p["node"] for p in ts})}
    rss = {n: [(p["t"], p["rss_bytes"]) for p in ts if p["node"] == n] for n in cpu}
    sources = sorted({s for p in ts for s in p["event_rates"]})
    evs = {s: [(p["t"], p["event_rates"].get(s, 0.0)) for p in ts] for s in sources}
    per_rule = doc["verification"]["per_rule"]
    top = [r["rule"] for r in doc["noise"]["rules"][:10]]
    noisy = bar_chart("Top noisy rules: alerts before and after tuning",
                      [(r, per_rule.get(r, [0, 0])) for r in top], legend=("before", "after"))
    pools = doc["overhead"]["pools"]
    budget = doc["budget"]
    pool_cpu = bar_chart("Per-pool CPU overhead (p95, % of node) against budget",
                         [(p, [v["cpu_fraction_p95"] * 100]) for p, v in pools.items()], legend=("CPU %",),
                         limit=budget["cpu_fraction"] * 100)
    pool_mem = bar_chart("Per-pool memory overhead (p95, % of node) against budget",
                         [(p, [v["memory_fraction_p95"] * 100]) for p, v in pools.items()], legend=("memory %",),
                         limit=budget["memory_fraction"] * 100)
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary_rows(doc))
    props = "".join(
        f"<tr><td>{escape(p['rule'])}</td><td>{escape(p['kind'])}</td><td>{escape(', '.join(p['fields']))}</td>"
        f"<td>{escape(json.dumps(p['values']))}</td><td>{'yes' if p['accepted'] else 'no'}</td>"
        f"<td>{escape('; '.join(p['refused_because']) or p['reason'])}</td></tr>" for p in doc["proposals"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>falcoctl-py tuning report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}figure{{margin:1em 0}}</style>
</head><body><h1>falcoctl-py tuning report</h1>
<table>{rows}</table>
<h2>Engine cost over time</h2>
<figure>{line_chart("Engine CPU (cores)", cpu, y_label="cores")}</figure>
<figure>{line_chart("Engine RSS (bytes)", rss, y_label="bytes")}</figure>
<figure>{line_chart("Events per second by source", evs, y_label="events/s")}</figure>
<h2>Noise</h2><figure>{noisy}</figure>
{rules_html(doc)}
<h2>Overhead against budget</h2><figure>{pool_cpu}</figure><figure>{pool_mem}</figure>
<h2>Proposals</h2><table><tr><th>rule</th><th>kind</th><th>fields</th><th>values</th><th>accepted</th>
<th>why</th></tr>{props}</table>
</body></html>
"""


def write_reports(doc: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    validate(doc)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["json"].write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    paths["markdown"].write_text(render_markdown(doc))
    paths["html"].write_text(render_html(doc))
    return paths
