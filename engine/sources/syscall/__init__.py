"""The live ``syscall`` source: picks a kernel backend (``auto|ebpf|audit|proc``) after checking it can run here.

Owns: ``build(config, ...)`` (what ``engine.service`` calls when ``sources.syscall.enabled``), the up-front
privilege and namespace checks that turn "cannot work here" into ``SyscallSourceUnavailable`` (one line naming
what is missing; exit code 4 at the CLI edge) before anything in the kernel is changed, where the host is seen
(``host_root``: the process table reads ``<host_root>/proc``, the runtime state defaults under it), which node's
pods are watched (``pod_watcher``: ``k8s_metadata.node_name`` or ``$FALCOPY_NODE_NAME``), and the
optional recording of every delivered event (``sources.syscall.record``: JSON lines for the audit and proc
backends, the binary capture of the probe's records for ebpf).

Checks per backend (see docs/syscall-backends.md):
    ebpf   kernel BTF, the built probe object, CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), libbpf.
    audit  ``audit.mode: unicast``: CAP_AUDIT_CONTROL and the host PID namespace (``hostPID``) — ``AUDIT_GET``
           must succeed; ``multicast`` (read-only): CAP_AUDIT_READ — joining the read-only group must succeed
           (it carries records only in the host network namespace: ``hostNetwork``).
    proc   CAP_NET_ADMIN and the host network namespace (``hostNetwork``) — the proc connector must accept us.

Must not: evaluate rules, talk to the API server itself, or leave kernel state changed when it raises.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from engine.sources.base import Source, SourceStats, SourceUnavailable
from engine.sources.syscall.stream import EventStream, LiveBackend

if TYPE_CHECKING:
    from engine.config_types import SyscallConfig, WithSources
    from engine.events.syscall import SyscallEvent
    from engine.fields.base import FieldClass
    from engine.state.pods import PodIndex, PodsApi, PodWatcher

BACKENDS = ("auto", "ebpf", "audit", "proc")
CAP_NET_ADMIN, CAP_AUDIT_CONTROL, CAP_AUDIT_READ = 12, 30, 37
AUDIT_MODES = ("unicast", "multicast")
NODE_NAME_ENV = "FALCOPY_NODE_NAME"  # the node whose pods are watched, when k8s_metadata.node_name is unset


class SyscallSourceUnavailable(SourceUnavailable):
    """The chosen backend cannot run on this host or with these privileges (exit code 4 at the CLI)."""

    def __init__(self, backend: str, missing: str) -> None:
        super().__init__(f"syscall source ({backend} backend) cannot start: {missing}")
        self.backend = backend
        self.missing = missing


def _status_field(name: str) -> str:
    with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
        for line in fh:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def has_capability(cap: int) -> bool:
    return bool(int(_status_field("CapEff") or "0", 16) >> cap & 1)


def in_initial_pid_namespace() -> bool:
    """False inside a nested PID namespace (``NSpid`` lists one pid per level)."""
    return len(_status_field("NSpid").split()) <= 1


def check_audit() -> None:
    """Raise ``SyscallSourceUnavailable`` unless the audit backend can run (``audit.mode: unicast``); changes
    nothing."""
    if not in_initial_pid_namespace():
        raise SyscallSourceUnavailable("audit", "not in the host PID namespace (run with hostPID)")
    if not has_capability(CAP_AUDIT_CONTROL):
        raise SyscallSourceUnavailable("audit", "capability CAP_AUDIT_CONTROL is missing")
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    try:
        sock = AuditSocket()
    except OSError as exc:
        raise SyscallSourceUnavailable("audit", f"no NETLINK_AUDIT socket ({exc.strerror}); kernel without "
                                                "CONFIG_AUDITSYSCALL?") from None
    try:
        sock.get_status()
    except OSError as exc:
        # With CAP_AUDIT_CONTROL held, EPERM is the kernel's PID namespace check (a /proc of the pod's own PID
        # namespace hides the nesting from ``in_initial_pid_namespace``).
        hint = "; not in the host PID namespace (run with hostPID)" if exc.errno == errno.EPERM else ""
        raise SyscallSourceUnavailable("audit", f"the kernel refused AUDIT_GET ({os.strerror(exc.errno or 1)})"
                                                f"{hint}") from None
    finally:
        sock.close()


def check_audit_read() -> None:
    """``check_audit`` for the read-only mode (``audit.mode: multicast``): CAP_AUDIT_READ, and the kernel lets us
    join the read-only group."""
    if not has_capability(CAP_AUDIT_READ):
        raise SyscallSourceUnavailable("audit", "capability CAP_AUDIT_READ is missing (audit.mode multicast "
                                                "reads the read-only group)")
    from engine.sources.syscall.linux_audit.netlink import AUDIT_NLGRP_READLOG, AuditSocket
    try:
        AuditSocket(groups=1 << (AUDIT_NLGRP_READLOG - 1)).close()
    except OSError as exc:
        raise SyscallSourceUnavailable("audit", f"the kernel refused the read-only audit group "
                                                f"({os.strerror(exc.errno or 1)})") from None


def check_proc() -> None:
    """Raise ``SyscallSourceUnavailable`` unless the proc connector accepts a subscription (then unsubscribe)."""
    if not has_capability(CAP_NET_ADMIN):
        raise SyscallSourceUnavailable("proc", "capability CAP_NET_ADMIN is missing")
    from engine.sources.syscall.proc_connector.backend import ProcConnectorBackend
    probe = ProcConnectorBackend(rcvbuf=1 << 16)
    try:
        probe.subscribe()
    except ConnectionRefusedError:
        raise SyscallSourceUnavailable("proc", "the proc connector refused us: not in the host network "
                                               "namespace (run with hostNetwork)") from None
    except OSError as exc:
        raise SyscallSourceUnavailable("proc", f"no proc connector ({errno.errorcode.get(exc.errno or 0, exc)}); "
                                               "kernel without CONFIG_PROC_EVENTS?") from None
    finally:
        probe.close()


def check_ebpf() -> None:
    """Raise ``SyscallSourceUnavailable`` unless the ebpf backend can load here; loads nothing."""
    from engine.sources.syscall.ebpf.backend import missing
    reason = missing()
    if reason is not None:
        raise SyscallSourceUnavailable("ebpf", reason)


CHECKS: Mapping[str, Callable[[], None]] = {"ebpf": check_ebpf, "audit": check_audit,
                                            "audit-multicast": check_audit_read, "proc": check_proc}


def choose_backend(wanted: str, *, audit_mode: str = "unicast") -> str:
    """The backend to use: ``wanted`` after its check, or for ``auto`` the first of ebpf, audit, proc that passes
    (the audit backend checked for ``audit_mode``)."""
    if wanted not in BACKENDS:
        raise ValueError(f"sources.syscall.backend: unknown backend {wanted!r} (known: {', '.join(BACKENDS)})")
    if audit_mode not in AUDIT_MODES:
        raise ValueError(f"sources.syscall.audit.mode: unknown mode {audit_mode!r} (known: {', '.join(AUDIT_MODES)})")

    def check(name: str) -> None:
        CHECKS["audit-multicast" if name == "audit" and audit_mode == "multicast" else name]()

    if wanted != "auto":
        check(wanted)
        return wanted
    reasons: list[str] = []
    for name in ("ebpf", "audit", "proc"):
        try:
            check(name)
            skipped = f" ({'; '.join(reasons)})" if reasons else ""
            logging.getLogger("engine.sources.syscall").info("syscall source: auto chose the %s backend%s",
                                                               name, skipped)
            return name
        except SyscallSourceUnavailable as exc:
            reasons.append(f"{name}: {exc.missing}")
    raise SyscallSourceUnavailable("auto", "; ".join(reasons))


class RecordingSource(EventStream):
    """Wraps a live backend; every event it delivers is also appended to a JSON-lines record file."""

    def __init__(self, inner: LiveBackend, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.record_path = path

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        return self.inner.field_classes

    def stats(self) -> SourceStats:
        return self.inner.stats()

    def open(self) -> None:
        self.inner.open()

    def describe(self) -> str:
        return f"{self.inner.describe()}, recorded to {self.record_path}"

    def close(self) -> None:
        self.inner.close()

    def stop(self) -> None:
        self.inner.stop()

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return self.inner.update_event_types(event_types)

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]:
        from engine.sources.syscall.record.recorder import Recorder
        with Recorder(self.record_path) as recorder:
            for event in self.inner.events(timeout=timeout):
                recorder.write(event)
                yield event


def host_root(section: SyscallConfig) -> str:
    """Where the host's filesystems are seen: ``host_root`` of the section, else ``$FALCOPY_HOST_ROOT``, else ``/``.
    Processes are read from ``<host_root>/proc`` (a pod without ``hostPID`` mounts the host's ``/proc`` there)."""
    root = str(section.get("host_root") or os.environ.get("FALCOPY_HOST_ROOT") or "/")
    if not os.path.isabs(root):
        raise ValueError(f"sources.syscall.host_root: {root!r} is not an absolute path")
    if not os.path.isdir(os.path.join(root, "proc", "self")):
        raise SyscallSourceUnavailable(str(section.get("backend", "auto")),
                                       f"no procfs at {os.path.join(root, 'proc')} (host_root {root}: mount the "
                                       "host's /proc there read-only)")
    return root


def pod_watcher(section: SyscallConfig, index: PodIndex, *, environ: Mapping[str, str] = os.environ,
                api_factory: Callable[[], PodsApi] | None = None) -> PodWatcher | None:
    """The watch of this node's pods for ``sources.syscall.k8s_metadata``: the node is ``node_name`` there, else
    ``$FALCOPY_NODE_NAME`` (the chart sets it from the pod's ``spec.nodeName``). None when it is disabled or no
    node is known; inside a cluster (``$KUBERNETES_SERVICE_HOST``) the missing node is logged as a warning.
    ``api_factory``: the API client (default: in-cluster credentials, else the kubeconfig)."""
    from engine.state.pods import PodWatcher
    k8s = section.get("k8s_metadata") or {}
    if not k8s.get("enabled", True):
        return None
    node = k8s.get("node_name") or environ.get(NODE_NAME_ENV)
    if not node:
        level = logging.WARNING if environ.get("KUBERNETES_SERVICE_HOST") else logging.DEBUG
        logging.getLogger("engine.sources.syscall").log(
            level, "pod metadata off: no node name (set sources.syscall.k8s_metadata.node_name or $%s)",
            NODE_NAME_ENV)
        return None
    return PodWatcher(index, str(node), api_factory=api_factory, resync=float(k8s.get("resync_seconds", 300)))


def build(config: SyscallConfig | WithSources, *, event_types: Iterable[str] | None = None,
          ruleset: object = None) -> Source:
    """A started-ready (not yet started) syscall source for ``sources.syscall`` settings.

    ``event_types`` (or ``ruleset.evttypes_needed("syscall")``) says what the audit backend must capture.
    Raises ``SyscallSourceUnavailable`` when the backend cannot run here, before changing anything.
    """
    section: SyscallConfig = config["sources"].get("syscall", {}) if "sources" in config else config
    wanted = str(section.get("backend", "auto"))
    if wanted == "replay":  # recorded events, no kernel: measurements and tests
        from engine.sources.paced_replay import PacedReplay
        path = section.get("path")
        if not path:
            raise ValueError("sources.syscall.path: the replay backend needs the recorded events file")
        return PacedReplay(path, name="syscall", rate=float(section.get("rate", 0) or 0),
                           loop=bool(section.get("loop", False)),
                           start_after=float(section.get("start_after", 0) or 0))
    if event_types is None:
        needed = getattr(ruleset, "evttypes_needed", None)  # a Ruleset; any other evaluator: capture nothing
        event_types = needed("syscall") if needed is not None else ()
    audit = section.get("audit") or {}
    backend = choose_backend(wanted, audit_mode=str(audit.get("mode", "unicast")))
    from engine.state.proctable import ProcessTable
    root = host_root(section)
    table = ProcessTable(max_size=int(section.get("max_processes", 32768)), proc=os.path.join(root, "proc"))
    from engine.state.pods import PodIndex
    pods = PodIndex()
    watcher = pod_watcher(section, pods)
    from engine.state.runtime_state import DEFAULT_ROOTS, RuntimeState, combined
    roots = section.get("container_state_roots") or [os.path.join(root, r.lstrip("/")) for r in DEFAULT_ROOTS]
    containers = combined(pods.container, RuntimeState(roots))
    source: LiveBackend
    if backend == "ebpf":
        from engine.sources.syscall.ebpf.backend import RING_BYTES, EbpfBackend
        ebpf = section.get("ebpf") or {}
        return EbpfBackend(event_types, table=table, containers=containers, watcher=watcher,
                           ring_bytes=int(ebpf.get("ring_buffer_mb", RING_BYTES >> 20)) << 20,
                           record=section.get("record") or None)  # the probe's records: a binary capture
    if backend == "audit":
        from engine.sources.syscall.linux_audit.backend import BACKLOG_LIMIT, RCVBUF, AuditBackend
        source = AuditBackend(event_types, table=table, containers=containers, watcher=watcher,
                              read_only=audit.get("mode") == "multicast", host_proc=os.path.join(root, "proc"),
                              backlog_limit=int(audit.get("backlog_limit", BACKLOG_LIMIT)),
                              rcvbuf=int(audit.get("receive_buffer_mb", RCVBUF >> 20)) << 20,
                              block_when_full=bool(audit.get("block_when_full", False)))
    else:
        from engine.sources.syscall.proc_connector.backend import ProcConnectorBackend
        source = ProcConnectorBackend(table=table, containers=containers, watcher=watcher)
    record = section.get("record")
    return RecordingSource(source, Path(record)) if record else source
