"""Scrape an engine's ``/metrics`` and turn it into a ``Sample`` — the only module that parses Prometheus text.

Owns: the mapping from the engine's metric names (ARCHITECTURE.md's contract) to ``Sample`` fields, and plain HTTP
scraping of a loopback engine. In-cluster scraping goes through the API server's pod proxy, which
``falcoctl_py.k8s`` fetches; it parses what it gets with ``parse_metrics`` here (``status`` and ``upgrade`` too).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from falcoctl_py.errors import ClusterError
from falcoctl_py.tuning.samples import Sample


def parse_metrics(text: str, *, t: float, node: str = "local", pool: str = "default") -> Sample:
    """Build a ``Sample`` from Prometheus exposition text. Unknown metrics are ignored."""
    cpu = 0.0
    rss = 0.0
    build_info: dict[str, str] = {}
    events: dict[str, float] = {}
    drops: dict[str, float] = {}
    matches: dict[str, float] = {}
    workloads: dict[tuple[str, str, str], float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"metrics from {node} are not Prometheus text: {first}") from None
    for family in families:
        for s in family.samples:
            name, labels, value = s.name, s.labels, float(s.value)
            if name == "falcopy_cpu_seconds_total":
                cpu = value
            elif name == "falcopy_rss_bytes":
                rss = value
            elif name == "falcopy_events_total":
                src = labels.get("source", "")
                events[src] = events.get(src, 0.0) + value
            elif name == "falcopy_drops_total":
                src = labels.get("source", "")
                drops[src] = drops.get(src, 0.0) + value
            elif name == "falcopy_rule_matches_total":
                rule = labels.get("rule", "")
                matches[rule] = matches.get(rule, 0.0) + value
            elif name == "falcopy_rule_workload_matches_total":
                key = (labels.get("rule", ""), labels.get("namespace", ""), labels.get("workload", ""))
                workloads[key] = workloads.get(key, 0.0) + value
            elif name == "falcopy_build_info":
                build_info = dict(labels)
    return Sample(t=t, cpu_seconds=cpu, rss_bytes=rss, events=events, drops=drops, matches=matches,
                  node=node, pool=pool, build_info=build_info, workload_matches=workloads)


def scrape(url: str, *, timeout: float = 2.0, node: str = "local", pool: str = "default") -> Sample:
    """GET ``url`` (an engine's /metrics) and parse it, stamped with the time of the response."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ClusterError(f"cannot scrape {url}: {getattr(exc, 'reason', exc)}") from None
    return parse_metrics(body, t=time.time(), node=node, pool=pool)
