"""``tune --local``: run the bundled engine on this machine for a window, measure it, and analyse the result.

Owns: the measurement window — a real engine subprocess (``falcoctl-py engine run --config``) serving its webhook
and metrics on loopback, fed a realistic audit stream and a recorded syscall stream, sampled once a second through
the collector, with a second opinion on its CPU from its own cgroup. Analysis and reporting are delegated to the
sibling modules (``analysis`` assembles them); this module only runs and records the window.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import ClusterError, FindingsError, PrivilegeError
from falcoctl_py.tuning.collector import scrape
from falcoctl_py.tuning.cpuaccount import CgroupMeter, machine_busy_seconds
from falcoctl_py.tuning.feeder import Feeder
from falcoctl_py.tuning.samples import Sample

IDLE_SECONDS = 2.0
AUDIT_PATTERN = (1.0, 1.0, 0.5, 0.0)


@dataclass
class Window:
    """Everything recorded during one local window (plain data for the analysis)."""

    samples: list[Sample]
    idle_cpu_cores: float
    idle_rss_bytes: float
    duration: float
    alerts_path: Path
    audit_events_path: Path
    syscall_events_path: Path | None
    config_path: Path
    engine_log: Path
    engine_cpu_seconds: float
    independent_cpu_seconds: float | None
    independent_method: str
    tuner_cpu_seconds: float
    fed: dict[str, int] = field(default_factory=dict)
    feeder_latencies: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_audit_stream(path: Path, *, source: Path | None, count: int, seed: int) -> list[bytes]:
    """The window's audit events as JSON lines: the file given, or a generated realistic stream."""
    if source is not None:
        import orjson

        from engine.events.k8s_audit import AuditEvent
        from engine.sources.replay import ReplayError, ReplaySource

        try:  # a k8s_audit replay yields audit events only
            lines = [orjson.dumps(ev.obj) for ev in ReplaySource(source, name="k8s_audit") if isinstance(ev, AuditEvent)]
        except ReplayError as exc:
            raise FindingsError(str(exc)) from None
        except OSError as exc:
            raise FindingsError(f"cannot read audit events {source}: {exc.strerror or exc}") from None
        if not lines:
            raise FindingsError(f"{source}: no audit events")
    else:
        from engine.testing.audit_synth import synth_lines

        lines = synth_lines(count, seed=seed)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def engine_config(*, rules: Sequence[Path], webhook: str, metrics: str, alerts: Path,
                  syscall: dict[str, Any] | None) -> dict[str, Any]:
    sources: dict[str, Any] = {"k8s_audit": {"webhook": {"enabled": True, "listen": webhook,
                                                           "path": "/k8s-audit"}}}
    if syscall:
        sources["syscall"] = {"enabled": True, **syscall}
    return {
        "rules": [str(p) for p in rules],
        "rule_matching": "first",
        "priority": "debug",
        "sources": sources,
        "outputs": {"stdout": {"enabled": False}, "file": {"enabled": True, "path": str(alerts)}},
        "metrics": {"listen": metrics},
    }


def last_error(log: Path) -> str:
    """The message of the engine's last error (or last) log line; the engine logs JSON lines here."""
    import orjson

    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    messages = []
    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            messages.append(("error", line))
            continue
        if isinstance(doc, dict):
            messages.append((str(doc.get("level", "")), str(doc.get("msg", line))))
    errors = [m for level, m in messages if level == "error"]
    return (errors or [m for _, m in messages] or [""])[-1]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FindingsError(f"the engine exited during start-up (exit {proc.returncode}): "
                                f"{last_error(log) or 'no log'} (log: {log})")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise ClusterError(f"the engine did not become healthy at {url} within {timeout:.0f} s (log: {log})")


class Sampler(threading.Thread):
    """Scrapes the engine once a second; records its own CPU time so the cost of sampling is known."""

    def __init__(self, metrics_url: str, meter: CgroupMeter | None, *, t0: float, interval: float = 1.0) -> None:
        super().__init__(name="tune-sampler", daemon=True)
        self.url = metrics_url
        self.meter = meter
        self.t0 = t0
        self.interval = interval
        self.samples: list[Sample] = []
        self.cgroup: list[tuple[float, float]] = []  # (t, cgroup usage seconds)
        self.machine: list[tuple[float, float]] = []  # (t, machine busy seconds)
        self.errors = 0
        self.cpu_seconds = 0.0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def sample_once(self) -> None:
        try:
            s = scrape(self.url)
        except ClusterError:
            self.errors += 1
            return
        t = s.t - self.t0
        self.samples.append(Sample(t=t, cpu_seconds=s.cpu_seconds, rss_bytes=s.rss_bytes, events=s.events,
                                   drops=s.drops, matches=s.matches, build_info=s.build_info))
        if self.meter is not None:
            with contextlib.suppress(OSError):
                self.cgroup.append((t, self.meter.usage_seconds()))
        self.machine.append((t, machine_busy_seconds()))

    def run(self) -> None:
        start_cpu = time.thread_time()
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            self.sample_once()
            next_at += self.interval
            self._stop_event.wait(max(0.0, next_at - time.monotonic()))
        self.cpu_seconds = time.thread_time() - start_cpu


def run_window(*, out_dir: Path, rules: Sequence[Path], duration: float, audit_events: Path | None,
               audit_rate: float, syscall: dict[str, Any] | None, seed: int = 1,
               progress: Callable[[float, Sample | None], None] | None = None) -> Window:
    """Start the engine, measure idle, feed it for ``duration`` seconds while sampling, stop it."""
    wdir = out_dir / "window"
    wdir.mkdir(parents=True, exist_ok=True)
    audit_path = wdir / "audit-events.jsonl"
    lines = write_audit_stream(audit_path, source=audit_events, count=max(1, int(audit_rate * duration)),
                               seed=seed)
    alerts = wdir / "alerts.jsonl"
    alerts.unlink(missing_ok=True)
    webhook, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    cfg = engine_config(rules=rules, webhook=webhook, metrics=metrics, alerts=alerts, syscall=syscall)
    cfg_path = wdir / "engine-config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log_path = wdir / "engine.log"
    meter = CgroupMeter.create(f"falcopy-tune-{os.getpid()}")
    cmd = [sys.executable, "-m", "falcoctl_py.cli.main", "--log-format", "json", "engine", "run",
           "--config", str(cfg_path)]
    with log_path.open("wb") as log_fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_fh, start_new_session=True)
    try:
        if meter is not None and not meter.add(proc.pid):
            meter.remove()
            meter = None
        _wait_healthy(f"http://{metrics}/healthz", proc, log_path)
        t0 = time.time()
        sampler = Sampler(f"http://{metrics}/metrics", meter, t0=t0)
        sampler.sample_once()
        time.sleep(IDLE_SECONDS)
        sampler.sample_once()
        idle = sampler.samples[-2:]
        if len(idle) < 2:
            raise ClusterError(f"cannot scrape the engine at http://{metrics}/metrics")
        idle_cpu = (idle[1].cpu_seconds - idle[0].cpu_seconds) / max(idle[1].t - idle[0].t, 1e-6)
        idle_rss = idle[1].rss_bytes
        window_start = len(sampler.samples) - 1
        # Audit load varies block by block (full, full, half, none) so the fit can tell its cost from the
        # syscall stream's, which stays steady.
        feeder = Feeder(f"http://{webhook}/k8s-audit", lines, rate=audit_rate, pattern=AUDIT_PATTERN)
        feeder.start()
        sampler.start()
        end = time.monotonic() + duration
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise FindingsError(f"the engine exited during the window (exit {proc.returncode}); "
                                    f"see {log_path}")
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            if progress:
                progress(duration - max(0.0, end - time.monotonic()), sampler.samples[-1] if sampler.samples else None)
        feeder.stop()
        feeder.join(timeout=15)
        time.sleep(1.0)  # let the engine drain what it accepted
        sampler.stop()
        sampler.join(timeout=10)
        sampler.sample_once()
        tuner_cpu = sampler.cpu_seconds
    finally:
        _stop(proc)
        if meter is not None:
            meter.remove()
    samples = sampler.samples[window_start:]
    engine_cpu = samples[-1].cpu_seconds - samples[0].cpu_seconds
    independent, method = None, "none"
    if meter is not None and len(sampler.cgroup) >= 2:
        first = next((u for t, u in sampler.cgroup if t >= samples[0].t - 1e-9), sampler.cgroup[0][1])
        independent, method = sampler.cgroup[-1][1] - first, "engine cgroup cpu.stat usage_usec"
    return Window(
        samples=samples, idle_cpu_cores=idle_cpu, idle_rss_bytes=idle_rss,
        duration=samples[-1].t - samples[0].t, alerts_path=alerts, audit_events_path=audit_path,
        syscall_events_path=Path(syscall["path"]) if syscall and syscall.get("path") else None,
        config_path=cfg_path, engine_log=log_path, engine_cpu_seconds=engine_cpu,
        independent_cpu_seconds=independent, independent_method=method, tuner_cpu_seconds=tuner_cpu,
        fed={"sent": feeder.stats.sent_events, "accepted": feeder.stats.accepted_events,
             "rejected": feeder.stats.rejected_events, "retries": feeder.stats.retries},
        feeder_latencies=feeder.stats.latencies,
    )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def require_root_for_live() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError("--live needs root (the syscall source manages kernel audit state)")
