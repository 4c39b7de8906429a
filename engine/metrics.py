"""Prometheus metrics and health for the engine process: the only engine module that imports prometheus_client.

Owns: ``EngineCollector`` (a custom collector that reads ``stats()`` of the engine, the sources, the output queue
and the reloader at scrape time, so the hot path never calls a metrics library), the fixed metric names below,
and ``MetricsServer`` (``/metrics`` in the Prometheus text format, ``/healthz`` as 200/503 with a JSON status).
A source's health is read by attribute from its ``SourceStats`` (``engine.sources.base``): drops by reason,
``kernel_lost`` (reason ``kernel_lost``), intake depth, process-table size, HTTP request counters.

Must not: keep its own per-event counters, evaluate rules, or be imported by sources/outputs (they expose plain
``stats()`` instead).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import engine
from engine.sources.base import Source, SourceStats
from engine.sources.k8s_audit.webhook import split_listen

if TYPE_CHECKING:
    from engine.oci.follower import RulesFollower
    from engine.outputs.queue import OutputQueue
    from engine.reload import Reloader
    from engine.runtime import Engine

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _stats(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    try:
        return obj.stats() or {}
    except Exception:  # a broken stats() must not break the scrape
        log.exception("stats() of %r failed", obj)
        return {}


def _source_stats(src: Source) -> SourceStats:
    try:
        return src.stats()
    except Exception:  # a broken stats() must not break the scrape
        log.exception("stats() of source %s failed", src.name)
        return SourceStats()


class EngineCollector(Collector):
    """Turn the components' ``stats()`` into the ``falcopy_*`` metrics at scrape time.

    ``engine``: ``Engine`` (events/matches/errors, rules checksum); ``sources``: ``Source`` objects (their
    ``stats()`` is a ``SourceStats``); ``outputs``: the
    ``OutputQueue``; ``reloader``: object whose ``stats()`` has ``reloads`` ``{result: n}``.
    """

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        sources: Sequence[Source] = (),
        outputs: OutputQueue | None = None,
        reloader: Reloader | None = None,
        follower: RulesFollower | None = None,
        extra: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.engine = engine
        self.sources = list(sources)
        self.outputs = outputs
        self.reloader = reloader
        self.follower = follower
        self.extra = extra
        self._proc = psutil.Process()

    def describe(self) -> list[Metric]:
        return []  # the metric set depends on runtime data; skip the registry's eager collect

    def collect(self) -> Iterator[Metric]:
        est = _stats(self.engine)
        info = InfoMetricFamily(
            "falcopy_build",
            "Engine build and the loaded rules",
            labels=("version", "engine_version", "rules_checksum"),
        )
        info.add_metric(
            (),
            {
                "version": engine.__version__,
                "engine_version": engine.FALCO_ENGINE_VERSION,
                "rules_checksum": str(est.get("rules_checksum") or ""),
            },
        )
        yield info

        events = CounterMetricFamily("falcopy_events", "Events evaluated, by source", labels=("source",))
        for source, n in sorted((est.get("events_total") or {}).items()):
            events.add_metric((source,), n)
        yield events

        matches = CounterMetricFamily(
            "falcopy_rule_matches", "Alerts emitted, by rule", labels=("rule", "priority", "source")
        )
        for (rule, priority, source), n in sorted((est.get("matches_total") or {}).items()):
            matches.add_metric((rule, priority, source), n)
        yield matches

        per_workload = CounterMetricFamily(
            "falcopy_rule_workload_matches",
            "Alerts emitted, by rule and the namespace and workload that raised them (bounded: 'other' past a limit)",
            labels=("rule", "source", "namespace", "workload"),
        )
        for key, n in sorted((est.get("workload_matches_total") or {}).items()):
            per_workload.add_metric(key, n)
        yield per_workload

        drops: dict[tuple[str, str], float] = {}
        for source, n in (est.get("errors_total") or {}).items():
            drops[(source, "evaluation_error")] = drops.get((source, "evaluation_error"), 0) + n
        per_source = [(src.name, _source_stats(src)) for src in self.sources]
        for name, sst in per_source:
            for reason, n in sst.drops.items():
                drops[(name, reason)] = drops.get((name, reason), 0) + n
            if sst.kernel_lost:
                drops[(name, "kernel_lost")] = drops.get((name, "kernel_lost"), 0) + sst.kernel_lost
        for (source, reason), n in (_stats(self.outputs).get("drops") or {}).items():
            drops[(source, reason)] = drops.get((source, reason), 0) + n
        fam = CounterMetricFamily(
            "falcopy_drops", "Events or alerts lost, by source and reason", labels=("source", "reason")
        )
        for key, n in sorted(drops.items()):
            fam.add_metric(key, n)
        yield fam

        cpu = self._proc.cpu_times()
        yield CounterMetricFamily(
            "falcopy_cpu_seconds", "User+system CPU time of the engine process", value=cpu.user + cpu.system
        )
        yield GaugeMetricFamily(
            "falcopy_rss_bytes", "Resident memory of the engine process", value=self._proc.memory_info().rss
        )

        reloads = CounterMetricFamily("falcopy_rules_reload", "Rules reloads, by result", labels=("result",))
        counts = _stats(self.reloader).get("reloads") or {}
        for result in ("success", "failure"):
            reloads.add_metric((result,), counts.get(result, 0))
        yield reloads
        if self.follower is not None:
            follow = CounterMetricFamily(
                "falcopy_rules_follow", "OCI rules follower polls, by reference and result", labels=("ref", "result")
            )
            for ref, st in sorted(_stats(self.follower).items()):
                for result in ("updated", "unchanged", "rejected", "failed"):
                    follow.add_metric((ref, result), (st.get("results") or {}).get(result, 0))
            yield follow

        yield from self._extras(per_source)

    def _extras(self, per_source: list[tuple[str, SourceStats]]) -> Iterator[Metric]:
        ost = _stats(self.outputs)
        depth = GaugeMetricFamily("falcopy_output_queue_depth", "Alerts waiting per sink", labels=("sink",))
        sink_drops = CounterMetricFamily(
            "falcopy_output_drops", "Alerts lost per sink and reason", labels=("sink", "reason")
        )
        for sink, s in sorted((ost.get("sinks") or {}).items()):
            depth.add_metric((sink,), s.get("depth", 0))
        for (sink, reason), n in sorted((ost.get("sink_drops") or {}).items()):
            sink_drops.add_metric((sink, reason), n)
        yield depth
        yield sink_drops
        intake = GaugeMetricFamily(
            "falcopy_intake_depth", "Events accepted and waiting for the engine thread", labels=("source",)
        )
        requests = CounterMetricFamily(
            "falcopy_webhook_requests", "Webhook requests by HTTP status", labels=("status",)
        )
        rejected = CounterMetricFamily(
            "falcopy_webhook_requests_rejected",
            "Webhook requests refused (nothing accepted), by reason and HTTP status",
            labels=("reason", "status"),
        )
        for name, st in per_source:
            if st.intake_depth is not None:
                intake.add_metric((name,), st.intake_depth)
            http = st.http
            if http is None:
                continue
            for status, n in sorted(http.requests_by_status.items()):
                requests.add_metric((str(status),), n)
            for (reason, status), n in sorted(http.rejected_by_reason.items()):
                rejected.add_metric((reason, str(status)), n)
            hist = HistogramMetricFamily(
                "falcopy_webhook_request_seconds",
                "Webhook request handling time, from parsed headers until the reply is ready",
            )
            buckets = [(repr(b), float(n)) for b, n in http.latency_buckets]
            buckets.append(("+Inf", float(http.latency_count)))
            hist.add_metric([], buckets, http.latency_sum)
            yield hist
        yield intake
        yield requests
        yield rejected
        table = GaugeMetricFamily(
            "falcopy_process_table_size", "Processes tracked by a syscall source", labels=("source",)
        )
        for name, st in per_source:
            if st.process_table is not None:
                table.add_metric((name,), st.process_table)
        yield table
        for name, value in sorted((self.extra() if self.extra else {}).items()):
            yield GaugeMetricFamily(name, name.replace("_", " "), value=value)


class MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` on ``listen`` from a background thread.

    ``health()`` returns ``(ok, status_dict)``; ``/healthz`` answers 200 when ok, else 503, with the dict as JSON.
    """

    def __init__(
        self,
        collector: EngineCollector,
        *,
        listen: str = "0.0.0.0:8765",
        health: Callable[[], tuple[bool, dict[str, object]]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self.health = health or (lambda: (True, {"status": "ok"}))
        host, port = split_listen(listen, what="metrics.listen")
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(2.0)
        self.server.server_close()

    def scrape(self) -> bytes:
        return generate_latest(self.registry)


def _handler(ms: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, ms.scrape(), CONTENT_TYPE)
            elif path == "/healthz":
                ok, status = ms.health()
                self._send(
                    200 if ok else 503, orjson.dumps({**status, "time": time.time()}), "application/json"
                )
            else:
                self._send(404, b"not found: use /metrics or /healthz\n", "text/plain")

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("metrics %s: " + fmt, self.client_address[0], *args)

    return Handler
