"""The engine's server mode: sources + engine + output queue + metrics + hot reload, until SIGTERM/SIGINT.

Owns: ``serve(config) -> exit code`` (what ``falcoctl-py engine run`` calls for server modes) and ``Service``:
assembling the parts from a validated config, one thread per source delivering into the engine a batch at a
time (``Source.run_batches(Engine.process_batch)``), driving every source through the ``Source`` protocol's
lifecycle (``open`` at start, ``stop`` then ``close`` at shutdown; ``engine.sources.base``), health
(``/healthz`` is 200 while every source thread runs, none has been stuck in one delivery to the engine for
``stall_seconds``, and a ruleset is loaded), signals (TERM/INT stop, HUP reopens file outputs and reloads rules)
and the shutdown order: stop intake, drain accepted events, flush outputs within
``shutdown_timeout``, stop metrics. The syscall source is built by ``engine.sources.syscall.build(section, *,
ruleset)`` (imported lazily, only when ``sources.syscall`` is on); a reload re-narrows its capture through
``Source.update_event_types``. With ``follow`` on, the OCI rules follower
(``engine.oci.follower``) syncs once before the first load, its downloaded directories join the rules list, and
it reloads through the same ``Reloader``.

Must not: evaluate rules itself, format alerts, or import prometheus_client (``engine.metrics`` does).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import ConfigError, rules_files, validate_config
from engine.config_types import EngineConfig
from engine.progress import DeliveryWatch

if TYPE_CHECKING:
    from engine.sources.base import Source

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A part could not start (rules failed to load, a port is taken, a secret is unreadable); one line.

    ``exit_code`` follows the CLI's contract: 1 for bad input, 4 for an unsupported host or missing privilege.
    """

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Service:
    def __init__(self, config: EngineConfig) -> None:
        from engine.metrics import EngineCollector, MetricsServer
        from engine.outputs.queue import OutputQueue
        from engine.outputs.sinks import build_sinks
        from engine.reload import Reloader
        from engine.runtime import Engine

        self.config = config
        self.stopping = threading.Event()
        self.exit_code = 0
        self.sources: list[Source] = []
        self.threads: list[threading.Thread] = []
        self.watch = DeliveryWatch(float(config.get("stall_seconds", 60)))
        self.metrics: Any = None
        self.outputs: Any = None
        self.follower: Any = None
        self.follower = self._build_follower()
        ruleset = self._load_rules()
        try:
            self.outputs = OutputQueue(
                build_sinks(config["outputs"]), queue_size=config["outputs"]["queue_size"]
            )
        except (ValueError, OSError) as exc:
            raise ServiceError(f"outputs: {exc}") from None
        self.engine = Engine(
            ruleset,
            outputs=[self.outputs],
            priority_threshold=config["priority"],
            hostname=config.get("hostname"),
            append_output=config.get("append_output") or (),
        )
        self.reloader = Reloader(
            self._rules_files,
            engine=self.engine,
            rule_matching=config["rule_matching"],
            interval=config["reload"]["interval"],
        )
        if self.follower is not None:  # a new artifact on disk is loaded at once, through the reloader
            self.follower.reload = lambda: bool(self.reloader.check(force=True))
        try:
            self._build_sources()
            if config["metrics"]["enabled"]:
                collector = EngineCollector(
                    engine=self.engine, sources=self.sources, outputs=self.outputs, reloader=self.reloader,
                    follower=self.follower,
                )
                try:
                    self.metrics = MetricsServer(
                        collector, listen=config["metrics"]["listen"], health=self.health
                    )
                except OSError as exc:
                    raise ServiceError(
                        f"metrics.listen {config['metrics']['listen']}: {exc.strerror or exc}"
                    ) from None
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        """Free what a half-built service holds (listening sockets, sink workers) before failing."""
        for src in self.sources:
            src.stop()  # nothing is open yet; a webhook releases its bound port
        self.outputs.close(deadline=0.5)

    def _rules_files(self) -> list[Path]:
        extra = self.follower.present_entries() if self.follower is not None else []
        return rules_files(list(self.config["rules"]) + extra)

    def _build_follower(self) -> Any:
        """``follow`` on: the OCI rules follower, synced once so the first load has the artifact if it can."""
        section = self.config.get("follow") or {}
        if not section.get("enabled"):
            return None
        from engine.oci.follower import from_config
        from engine.oci.registry import RegistryError

        try:
            follower = from_config(section, ruleset=self._rules_files, rule_matching=self.config["rule_matching"])
        except RegistryError as exc:
            raise ServiceError(f"follow.refs: {exc}") from None
        follower.sync()
        return follower

    def _load_rules(self) -> Any:
        from engine.reload import _describe
        from engine.rules import load_rules

        files = self._rules_files()
        if not files:
            raise ServiceError(f"rules: no rules files found in {', '.join(self.config['rules'])}")
        result = load_rules(files, rule_matching=self.config["rule_matching"])
        for warning in result.warnings:
            log.warning("%s", _describe(warning))
        if not result.successful or result.ruleset is None:
            for error in result.errors:
                log.error("%s", _describe(error))
            raise ServiceError(
                f"rules failed to load: {len(result.errors)} error(s) in {', '.join(map(str, files))}"
            )
        log.info("loaded %d rules from %d file(s)", len(result.ruleset.rules), len(files))
        return result.ruleset

    def _build_sources(self) -> None:
        audit = self.config["sources"].get("k8s_audit") or {}
        web = audit.get("webhook") or {}
        if web.get("enabled"):
            from engine.sources.k8s_audit.webhook import WebhookSource

            try:
                self.sources.append(
                    WebhookSource(
                        listen=web["listen"],
                        path=web["path"],
                        tls_cert_file=web.get("tls_cert_file"),
                        tls_key_file=web.get("tls_key_file"),
                        token_file=web.get("token_file"),
                        max_body_bytes=web["max_body_bytes"],
                        max_event_bytes=web["max_event_bytes"],
                        queue_size=web["queue_size"],
                        cluster_name=audit.get("cluster_name"),
                    )
                )
            except ValueError as exc:
                raise ServiceError(str(exc)) from None
            except OSError as exc:  # port taken, unreadable certificate
                raise ServiceError(
                    f"sources.k8s_audit.webhook ({web['listen']}): {exc.strerror or exc}"
                ) from None
        file = audit.get("file") or {}
        if file.get("enabled"):
            from engine.sources.k8s_audit.file import AuditFileSource

            path = file.get("path")
            if not path:  # validate_config refuses this; a Service built from a hand-made dict may not
                raise ServiceError("sources.k8s_audit.file.path: required when the audit-log file source is on")
            self.sources.append(
                AuditFileSource(
                    path,
                    start_at=file["start_at"],
                    poll_interval=file["poll_interval"],
                    max_line_bytes=file["max_line_bytes"],
                    cluster_name=audit.get("cluster_name"),
                )
            )
        syscall = self.config["sources"].get("syscall") or {}
        if syscall.get("enabled"):
            from engine.sources import syscall as syscall_mod
            from engine.sources.base import SourceUnavailable

            try:
                source = syscall_mod.build(syscall, ruleset=self.engine.ruleset)
            except SourceUnavailable as exc:
                raise ServiceError(f"sources.syscall: {exc}", exit_code=exc.exit_code) from None
            self.sources.append(source)
            # a reload that needs other syscalls re-narrows the kernel capture
            self.reloader.on_swap.append(
                lambda ruleset: source.update_event_types(frozenset(ruleset.evttypes_needed("syscall"))))
        if not self.sources:  # a node pool with every source off: stay up (metrics, health), but say so
            log.warning("no event source is enabled: serving metrics and health only")

    # -- running -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every part; a source that cannot open raises ``ServiceError`` (4 for privilege/host)."""
        from engine.sources.base import SourceUnavailable

        for src in self.sources:
            try:
                src.open()
            except PermissionError as exc:
                raise ServiceError(f"source {src.name}: {exc}", exit_code=4) from None
            except SourceUnavailable as exc:
                raise ServiceError(f"source {src.name}: {exc}", exit_code=exc.exit_code) from None
            except OSError as exc:
                raise ServiceError(f"source {src.name}: {exc.strerror or exc}") from None
            except ValueError as exc:  # bad input found on open (a recording that does not decode)
                raise ServiceError(f"source {src.name}: {exc}") from None
            t = threading.Thread(target=self._run_source, args=(src,), name=f"source-{src.name}", daemon=True)
            t.start()
            self.threads.append(t)
        if self.config["reload"]["watch"]:
            self.reloader.start()
        if self.follower is not None:
            self.follower.start()
        if self.metrics is not None:
            self.metrics.start()
        log.info("engine serving: %s", ", ".join(s.describe() for s in self.sources) or "no sources")

    def _run_source(self, src: Source) -> None:
        try:  # one engine call (and lock) per batch
            src.run_batches(self.watch.wrap(f"source-{src.name}", self.engine.process_batch))
        except Exception:
            log.exception("source %s crashed", src.name)
        if not self.stopping.is_set():
            log.error("source %s stopped unexpectedly; shutting down", src.name)
            self.exit_code = 1
            self.stopping.set()

    def health(self) -> tuple[bool, dict[str, object]]:
        alive = {t.name: t.is_alive() for t in self.threads}
        loaded = self.engine.ruleset is not None
        stalled = self.watch.stalled()  # a source thread alive but stuck in one hand-off to the engine
        ok = loaded and all(alive.values()) and not stalled and not self.stopping.is_set()
        if stalled:
            log.error("engine stalled: %s",
                      ", ".join(f"{name} in one delivery for {secs:.0f}s+" for name, secs in stalled.items()))
        return ok, {
            "status": "ok" if ok else "unhealthy",
            "ruleset_loaded": loaded,
            "sources": alive,
            "stalled": stalled,
            "rules_checksum": getattr(self.engine.ruleset, "checksum", None),
            "last_reload_error": self.reloader.last_error,
            **({"follow": self.follower.stats()} if self.follower is not None else {}),
        }

    def hangup(self) -> None:
        """SIGHUP: reopen file outputs (log rotation) and reload the rules."""
        self.outputs.reopen()
        if self.config["reload"]["watch"]:
            self.reloader.reload_now()
        else:
            threading.Thread(target=self.reloader.load, name="rules-reload-once", daemon=True).start()

    def shutdown(self) -> bool:
        """Stop intake, let sources finish what they accepted, flush outputs; True when all within the deadline."""
        deadline = time.monotonic() + float(self.config.get("shutdown_timeout", 5))
        self.stopping.set()
        for src in self.sources:
            src.stop()  # no new input; what was accepted is still delivered
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic() - 1.0))
        for src in self.sources:
            try:
                src.close()  # kernel backends restore what they changed here
            except OSError as exc:
                log.error("source %s: close failed: %s", src.name, exc)
        self.reloader.stop()
        if self.follower is not None:
            self.follower.stop()
        clean = self.outputs.close(deadline=max(0.5, deadline - time.monotonic()))
        if self.metrics is not None:
            self.metrics.stop()
        stats = self.engine.stats()
        log.info(
            "engine stopped: %s events, %s alerts",
            sum(stats["events_total"].values()),
            sum(stats["matches_total"].values()),
        )
        return clean and not any(t.is_alive() for t in self.threads)


class _JsonLines(logging.Formatter):
    """One JSON object per log line (``log_format: json``) for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        import orjson

        doc = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def _setup_logging(level: str, fmt: str) -> None:
    """Apply the config's level and format: to the CLI's handlers if present, else to a new stderr handler."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
        if fmt != "json":
            root.handlers[0].setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
    if fmt == "json":
        for handler in root.handlers:
            handler.setFormatter(_JsonLines())


def serve(config: Mapping[str, object]) -> int:
    """Run the engine server until SIGTERM/SIGINT; 0 after a clean stop, 1 for bad config/rules or a crash."""
    try:
        cfg = validate_config(config)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config: %s", problem)
        return 1
    _setup_logging(cfg["log_level"], cfg["log_format"])
    try:
        service = Service(cfg)
    except ServiceError as exc:
        log.error("%s", exc)
        return exc.exit_code
    in_main = threading.current_thread() is threading.main_thread()
    previous: dict[signal.Signals, Any] = {}
    if in_main:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: service.stopping.set())
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: service.hangup())
    try:
        service.start()
        while not service.stopping.wait(0.5):
            pass
        log.info("stopping: draining accepted events and flushing outputs")
    except ServiceError as exc:
        log.error("%s", exc)
        service.exit_code = exc.exit_code
    finally:
        clean = service.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not clean:
        log.warning("shutdown did not finish within %ss", cfg["shutdown_timeout"])
    return service.exit_code
