"""The per-rule part of the tuning report: alert volume over time before and after, top identities, each proposal
with the exact YAML it adds, and each refused proposal with the event it would have hidden.

Owns: laying out ``noise.volume``, ``noise.rules[].top_identities`` and ``proposals`` as HTML and Markdown. It
computes nothing; every figure comes in the report document.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from falcoctl_py.tuning.plots import line_chart


def _hidden_text(h: Mapping[str, Any]) -> str:
    if h.get("check") == "scenario":
        return f"guard scenario '{h.get('scenario')}': {h.get('event')}"
    return f"counterfactual (another {h.get('changed')}): {h.get('event')}"


def rules_html(doc: Mapping[str, Any]) -> str:
    volume = (doc["noise"].get("volume") or {})
    step = float(volume.get("bucket_seconds") or 0.0)
    props: dict[str, list[Mapping[str, Any]]] = {}
    for p in doc["proposals"]:
        props.setdefault(p["rule"], []).append(p)
    parts = []
    for r in doc["noise"]["rules"][:10]:
        rule = r["rule"]
        out = [f"<h3>{escape(rule)}</h3><p>{r['count']} alerts ({r['per_hour']:.0f}/h), {escape(r['source'])}"
               + (f"; pinned by the condition: {escape(', '.join(r.get('pinned') or []))}" if r.get("pinned") else "")
               + "</p>"]
        series = (volume.get("rules") or {}).get(rule)
        if series and step > 0:
            out.append("<figure>" + line_chart(
                f"{rule}: alerts per {step:.0f} s, before and after tuning",
                {name: [(i * step, float(n)) for i, n in enumerate(series[name])] for name in ("before", "after")},
                y_label="alerts") + "</figure>")
        tops = r.get("top_identities") or []
        if tops:
            out.append("<table><tr><th>identity</th><th>value</th><th>alerts</th></tr>" + "".join(
                f"<tr><td>{escape(t['field'])}</td><td>{escape(str(t['value']))}</td><td>{t['count']}</td></tr>"
                for t in tops) + "</table>")
        for p in props.get(rule, []):
            state = "accepted" if p["accepted"] else "refused"
            out.append(f"<p><b>{escape(p['kind'])} {escape(p.get('name') or '')}: {state}</b> — "
                       f"{escape(p['reason'])}</p>")
            if p["kind"] == "exception":
                out.append(f"<pre>{escape(p.get('yaml') or '')}</pre>")
            if not p["accepted"]:
                hidden = p.get("hidden") or []
                items = [_hidden_text(h) for h in hidden] or list(p["refused_because"])
                out.append("<ul>" + "".join(f"<li>{escape(t)}</li>" for t in items[:8]) + "</ul>")
        parts.append("".join(out))
    return "<h2>Per rule</h2>" + "".join(parts)


def rules_markdown(doc: Mapping[str, Any]) -> list[str]:
    out = ["", "## Proposals in detail", ""]
    for p in doc["proposals"]:
        if p["kind"] != "exception":
            continue
        out.append(f"### {p['rule']}: {'accepted' if p['accepted'] else 'refused'}")
        out += ["", "```yaml", (p.get("yaml") or "").rstrip(), "```", ""]
        for h in (p.get("hidden") or [])[:8]:
            out.append(f"- would hide {_hidden_text(h)}")
    return out
