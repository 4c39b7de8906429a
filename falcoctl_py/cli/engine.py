"""``falcoctl-py engine run``: the bundled engine's process — replay a file, or serve (webhook, syscalls, metrics).

Owns: turning flags into either a replay run (rules loaded here, alerts as Falco JSON lines or text on stdout,
logs on stderr) or a config dict for ``engine.service.serve(config) -> exit code`` (same keys as the config file:
``rules``, ``sources``, ``outputs``, ``metrics``, ``priority``, ``rule_matching``, ``log_level``).

Must not: import anything outside ``engine`` and the CLI edge at module level (no kubernetes client, no helm, no
rich) — this is the DaemonSet's process and its memory is measured. Heavier engine modules load lazily.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import click

from falcoctl_py.cli import options
from falcoctl_py.errors import FalcoctlError, FindingsError, UsageError

log = logging.getLogger("falcoctl_py.engine")

SOURCES = ("k8s_audit", "syscall")
PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug")


_LISTEN = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:\s]*):([0-9]{1,5})")


def _listen(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``HOST:PORT`` (``[v6]:PORT``, ``:PORT``) with a port 1-65535, checked before anything starts."""
    if value is None:
        return None
    m = _LISTEN.fullmatch(value)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT (port 1-65535), got {value!r}", ctx=ctx, param=param)
    return value


def default_rules_files() -> list[Path]:
    """The engine's own default ruleset (``engine/default_rules/*.yaml``, shipped as package data)."""
    import engine

    folder = Path(engine.__file__).resolve().parent / "default_rules"
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def render_finding(finding: Any) -> str:
    where = ":".join(str(x) for x in (finding.file, finding.line, finding.column) if x not in (None, ""))
    item = f"{finding.item_type} '{finding.item_name}'" if finding.item_name else str(finding.item_type or "")
    return f"{where + ': ' if where else ''}{finding.code} {item}: {finding.message}".replace("  ", " ")


def load_ruleset(rules: list[Path], *, rule_matching: str) -> Any:
    """Load rules files or raise ``FindingsError`` listing every error (warnings are logged)."""
    from engine.rules import load_rules

    missing = [str(p) for p in rules if not p.is_file()]
    if missing:
        raise UsageError(f"rules file not found: {', '.join(missing)}")
    result = load_rules(list(rules), rule_matching=rule_matching)
    for warning in result.warnings:
        log.warning("%s", render_finding(warning))
    if not result.successful or result.ruleset is None:
        for error in result.errors:
            click.echo(render_finding(error), err=True)
        raise FindingsError(f"rules failed to load: {len(result.errors)} error(s) in "
                            f"{', '.join(str(p) for p in rules)}")
    return result.ruleset


def _alert_writer(fmt: str) -> Any:
    out = sys.stdout.buffer
    if fmt == "json":
        def write(alert: Any) -> None:
            out.write(alert.to_json() + b"\n")
    else:
        def write(alert: Any) -> None:
            out.write(alert.to_text().encode() + b"\n")
    return write


def replay_run(*, rules: list[Path], source: str, events: Path, fmt: str, priority: str,
               rule_matching: str) -> int:
    from engine.runtime import Engine
    from engine.sources.replay import ReplayError, ReplaySource

    ruleset = load_ruleset(rules, rule_matching=rule_matching)
    engine = Engine(ruleset, outputs=[_alert_writer(fmt)], priority_threshold=priority)
    replay = ReplaySource(events, name=source)
    try:
        alerts = engine.run(replay)
    except ReplayError as exc:
        raise FindingsError(str(exc)) from None
    finally:
        sys.stdout.flush()
    stats = replay.stats()
    log.info("replayed %d events from %s: %d alerts", stats.events, events, alerts)
    return 0


def server_config(*, rules: list[Path], source: str, fmt: str, priority: str, rule_matching: str,
                  webhook_listen: str | None, metrics_listen: str | None, backend: str | None,
                  base: dict[str, Any] | None, log_level: str, record: Path | None = None) -> dict[str, Any]:
    """The service config: the config file's content (if any) with the flags given on top."""
    config: dict[str, Any] = dict(base or {})
    if rules or "rules" not in config:
        config["rules"] = [str(p) for p in (rules or default_rules_files())]
    sources = dict(config.get("sources") or {})
    if source == "k8s_audit" and (webhook_listen or not sources):
        audit = dict(sources.get("k8s_audit") or {})
        webhook = dict(audit.get("webhook") or {})
        webhook.setdefault("path", "/k8s-audit")
        webhook["listen"] = webhook_listen or webhook.get("listen") or "0.0.0.0:9765"
        audit["webhook"] = webhook
        sources["k8s_audit"] = audit
    if source == "syscall":
        syscall = dict(sources.get("syscall") or {})
        if backend:
            syscall["backend"] = backend
        syscall.setdefault("backend", "auto")
        if record is not None:
            syscall["record"] = str(record)
        sources["syscall"] = syscall
    config["sources"] = sources
    config.setdefault("outputs", {"stdout": {"format": fmt}})
    if metrics_listen:
        config["metrics"] = {**dict(config.get("metrics") or {}), "listen": metrics_listen}
    config.setdefault("priority", priority)
    config.setdefault("rule_matching", rule_matching)
    config.setdefault("log_level", log_level)
    return config


def _read_config(path: Path) -> dict[str, Any]:
    """The config file, validated and defaulted by ``engine.config`` (every problem printed with file:line)."""
    from engine.config import ConfigError, load_config

    try:
        return dict(load_config(path))  # a plain dict: the flags are merged on top, then serve() re-validates
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise FindingsError(f"invalid engine config {path}: {len(exc.problems)} problem(s)") from None


@click.group("engine")
def group() -> None:
    """Run the bundled rules engine."""


@group.command("run")
@options.rules_files(help="A rules file (repeat per file; default: the engine's bundled rules).")
@click.option("--source", type=click.Choice(SOURCES), default="k8s_audit", show_default=True,
              help="Event source to read.")
@click.option("--events", type=click.Path(path_type=Path), help="Replay recorded events from this file.")
@options.output(["text", "json"], default="text", dest="fmt", help="Alert format on stdout.")
@click.option("--priority", type=click.Choice(PRIORITIES, case_sensitive=False), default="debug",
              show_default=True, help="Minimum priority of alerts to emit.")
@click.option("--rule-matching", type=click.Choice(["first", "all"]), default="first", show_default=True,
              help="Emit only the first matching rule per event, or all.")
@click.option("--webhook-listen", metavar="HOST:PORT", callback=_listen, help="Serve the k8s audit webhook here.")
@click.option("--metrics-listen", metavar="HOST:PORT", callback=_listen, help="Serve /metrics and /healthz here.")
@click.option("--backend", type=click.Choice(["auto", "ebpf", "audit", "proc"]),
              help="Syscall capture backend (with --source syscall).")
@click.option("--record", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="With --source syscall: also write every captured event to PATH (the probe's binary capture "
                   "with ebpf, JSON lines with audit/proc), to replay later with --events PATH.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Engine config file (YAML).")
@click.pass_context
def run(ctx: click.Context, rules: tuple[Path, ...], source: str, events: Path | None, fmt: str, priority: str,
        rule_matching: str, webhook_listen: str | None, metrics_listen: str | None, backend: str | None,
        record: Path | None, config_path: Path | None) -> None:
    """Replay events (--events) or serve: the audit webhook, syscall capture, metrics."""
    if events is not None:
        if webhook_listen or config_path or backend or record:
            raise UsageError("--events replays a file; it cannot be combined with --webhook-listen, "
                             "--config, --backend or --record")
        if not events.exists():
            raise UsageError(f"events file not found: {events}")
        if not events.is_file():
            raise UsageError(f"events path is not a file: {events}")
        rule_files = list(rules) or default_rules_files()
        if not rule_files:
            raise UsageError("no --rules given and no bundled default rules found")
        ctx.exit(replay_run(rules=rule_files, source=source, events=events, fmt=fmt, priority=priority,
                            rule_matching=rule_matching))
    if backend and source != "syscall":
        raise UsageError("--backend applies to --source syscall")
    if record is not None and source != "syscall":
        raise UsageError("--record applies to --source syscall")
    config = server_config(rules=list(rules), source=source, fmt=fmt, priority=priority,
                           rule_matching=rule_matching, webhook_listen=webhook_listen,
                           metrics_listen=metrics_listen, backend=backend, record=record,
                           base=_read_config(config_path) if config_path else None,
                           log_level=(ctx.find_root().obj or {}).get("log_level", "info"))
    try:
        from engine.service import serve
    except ModuleNotFoundError as exc:
        if exc.name == "engine.service":
            raise FalcoctlError("the engine service is not available in this build") from None
        raise
    ctx.exit(serve(config))


@group.command("audit-rules")
@options.rules_files(help="A rules file (repeat per file; default: the engine's bundled rules).")
@click.option("--rule-matching", type=click.Choice(["first", "all"]), default="first", show_default=True,
              help="As for engine run (it does not change which syscalls are needed).")
def audit_rules(rules: tuple[Path, ...], rule_matching: str) -> None:
    """The host audit rules the read-only audit mode needs (auditctl syntax, for /etc/audit/rules.d/).

    With sources.syscall.audit.mode multicast the engine changes nothing in the kernel: it reads the records of
    the host's audit daemon keyed falcopy. Install these there so the syscalls the loaded rules need are audited.
    """
    from engine.sources.syscall.linux_audit.backend import host_rules

    rule_files = list(rules) or default_rules_files()
    if not rule_files:
        raise UsageError("no --rules given and no bundled default rules found")
    ruleset = load_ruleset(rule_files, rule_matching=rule_matching)
    click.echo(host_rules(ruleset.evttypes_needed("syscall")), nl=False)
