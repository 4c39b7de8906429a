"""The ``ebpf`` syscall backend: loads the CO-RE probe, fills its syscall filter from the rules, reads its ring.

Owns: the backend's lifecycle (open the object built at setup, size the ring and the per-CPU scratch maps, load,
write our own tgid and the syscall table, attach the four programs; on ``close()`` detach and free everything),
the up-front check ``missing()`` (BTF, the object, capabilities — one line naming what is missing), the
per-CPU kernel drop counters, delivering decoded events in ring batches, and (``record``) writing the ring's
records and the state learned beside them to a binary capture (``engine.sources.syscall.ebpf.capture``). Nothing is pinned: a killed engine's
programs go with its file descriptors.

Must not: evaluate rules, read ``/proc`` per event, or leave a program loaded once ``close()`` returned.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine.sources.base import Deliver, SourceStats
from engine.sources.syscall.ebpf.capture import CaptureWriter
from engine.sources.syscall.ebpf.decode import Decoder
from engine.sources.syscall.ebpf.libbpf import BpfError, BpfObject, Libbpf
from engine.sources.syscall.ebpf.ring import RingReader
from engine.sources.syscall.ebpf.specs import spec_table
from engine.sources.syscall.stream import EventStream
from engine.state.proctable import ProcessTable

if TYPE_CHECKING:
    from engine.events.syscall import ContainerInfo, SyscallEvent
    from engine.state.pods import PodWatcher

BTF = Path("/sys/kernel/btf/vmlinux")
OBJECT = Path(__file__).with_name("probe.bpf.o")
PROGRAMS = ("on_sys_exit", "on_exec", "on_fork", "on_exit")
RING_BYTES = 16 << 20
CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39


def object_path() -> Path:
    """The built probe: ``FALCOPY_BPF_OBJECT`` or ``probe.bpf.o`` beside this module (built by ``make setup``)."""
    return Path(os.environ.get("FALCOPY_BPF_OBJECT") or OBJECT)


def missing() -> str | None:
    """What keeps the ebpf backend from running here (None when nothing does); changes nothing."""
    from engine.sources.syscall import has_capability
    if not BTF.exists():
        return f"the kernel has no BTF ({BTF} is missing; needs CONFIG_DEBUG_INFO_BTF)"
    if not object_path().exists():
        return f"the probe object {object_path()} was not built (run make setup)"
    if not has_capability(CAP_SYS_ADMIN):
        lacking = [name for cap, name in ((CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON"))
                   if not has_capability(cap)]
        if lacking:
            which = (f"capabilities {' and '.join(lacking)} are" if len(lacking) > 1
                     else f"capability {lacking[0]} is")
            return f"{which} missing (or CAP_SYS_ADMIN)"
    try:
        Libbpf()
    except OSError as exc:
        return str(exc)
    return None


def refused(exc: BpfError) -> str:
    """Why the kernel said EPERM although ``missing()`` found the capabilities: most often a seccomp filter (a
    runtime's RuntimeDefault profile that allows bpf(2) only with CAP_SYS_ADMIN), else an LSM or kernel lockdown."""
    from engine.sources.syscall import _status_field
    what = f"the kernel refused the probe's {exc.step} ({os.strerror(exc.errno or errno.EPERM)}) although the " \
           "capabilities are held"
    if _status_field("Seccomp") == "2":
        return (f"{what}: a seccomp filter is active (Seccomp: 2) and blocks bpf(2) — the container runtime's "
                "RuntimeDefault profile allows it with CAP_BPF only in recent runtimes; set "
                "daemonset.seccompProfile (Localhost or Unconfined) for the engine pods")
    return f"{what}: an LSM (SELinux, AppArmor) or kernel lockdown blocks BPF tracing programs here"


def _boot_epoch_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


class EbpfBackend(EventStream):
    """A ``Source`` of syscall events from the ebpf probe."""

    name = "syscall"
    backend = "ebpf"

    def __init__(self, event_types: Iterable[str], *, table: ProcessTable | None = None,
                 containers: Callable[[str], ContainerInfo | None] | None = None,
                 watcher: PodWatcher | None = None,
                 ring_bytes: int = RING_BYTES, scan: bool = True, record: Path | str | None = None) -> None:
        self.specs = spec_table(event_types)
        self.table = table if table is not None else ProcessTable()
        self.watcher = watcher
        self.ring_bytes = ring_bytes
        self.scan = scan
        boot_ns = _boot_epoch_ns()
        self._capture = CaptureWriter(record, boot_ns=boot_ns) if record is not None else None
        if self._capture is not None and containers is not None:
            containers = self._capture.containers(containers)
        self._decoder = Decoder(self.table, boot_ns=boot_ns, containers=containers)
        self._table_reader = self.table.reader
        self._obj: BpfObject | None = None
        self._ring: RingReader | None = None
        self._stats = SourceStats()
        self._stopping = False
        self._cpus = 1

    def open(self) -> None:
        """Load and attach the probe (raises ``SyscallSourceUnavailable`` when the kernel refuses it)."""
        lib = Libbpf()
        self._cpus = lib.num_possible_cpus()
        try:
            obj = self._obj = BpfObject(lib, str(object_path()))
            obj.resize("scratch", self._cpus)
            obj.resize("events", self.ring_bytes)
            obj.load()
            obj.update("settings", struct.pack("<I", 0), struct.pack("<I", self.own_tgid()))
            self._write_specs(self.specs)
            capture = self._capture
            if capture is not None:
                capture.open()
                self.table.reader = capture.reader(self._table_reader)
                capture.snapshot = True
            if self.scan:
                self.table.scan()
            if capture is not None:
                capture.snapshot = False
            self._ring = RingReader(obj.map_fd("events"), self.ring_bytes)
            for program in PROGRAMS:
                obj.attach(program)
            if self.watcher is not None:
                self.watcher.start()
        except BpfError as exc:
            self.close()
            from engine.sources.syscall import SyscallSourceUnavailable
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise SyscallSourceUnavailable("ebpf", refused(exc)) from None
            raise SyscallSourceUnavailable("ebpf", f"the probe did not load ({exc.strerror})") from exc
        except BaseException:
            self.close()
            raise

    def own_tgid(self) -> int:
        """Our pid as the kernel's probe sees it (the initial PID namespace's): in a pod without hostPID,
        ``os.getpid()`` is the pod's number, while ``<host /proc>/self`` names the host's."""
        try:
            return int(os.readlink(os.path.join(self.table.proc, "self")))
        except (OSError, ValueError):
            return os.getpid()

    def _write_specs(self, specs: dict[int, bytes]) -> None:
        assert self._obj is not None
        for nr, spec in specs.items():
            self._obj.update("specs", struct.pack("<I", nr), spec)

    def update_event_types(self, event_types: Iterable[str]) -> bool:
        """Capture what a reloaded ruleset needs (only changed entries are written); False when unchanged."""
        wanted = spec_table(event_types)
        changed = {nr: spec for nr, spec in wanted.items() if self.specs.get(nr) != spec}
        if not changed:
            return False
        if self._obj is not None:
            self._write_specs(changed)
        self.specs = wanted
        return True

    def kernel_drops(self, *, retried: bool = False) -> int:
        """Records the kernel could not put in the ring, summed over CPUs (``retried``: the retries it made for
        records the ring refused at first)."""
        if self._obj is None:
            return 0
        raw = self._obj.lookup("drops", struct.pack("<I", 1 if retried else 0), 8 * self._cpus)
        return sum(struct.unpack(f"<{self._cpus}Q", raw))

    def stats(self) -> SourceStats:
        snap = self._stats.snapshot()
        snap.kernel_lost = self.kernel_drops()  # records the ring had no room for: lost in the kernel
        snap.process_table = len(self.table)
        snap.detail.update(decode_errors=self._decoder.undecodable, ring_retries=self.kernel_drops(retried=True))
        return snap

    def describe(self) -> str:
        on = sum(1 for spec in self.specs.values() if spec[6] & 1)
        recorded = f", recorded to {self._capture.path}" if self._capture is not None else ""
        return f"{self.name} ebpf backend ({on} syscalls in the kernel filter, ring {self.ring_bytes >> 20} MiB" \
               f"{recorded})"

    def release(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None
        if self._capture is not None:
            self._capture.close()
            self.table.reader = self._table_reader

    def batches(self, *, timeout: float | None = None) -> Iterator[list[SyscallEvent]]:
        """Lists of decoded events, one per ring batch, until ``stop()`` (or ``timeout`` seconds idle)."""
        ring = self._ring
        if ring is None:
            raise RuntimeError("ebpf backend not started")
        decode = self._decoder.decode
        idle = 0.0
        while not self._stopping:
            data, spans = ring.batch()
            if not spans:
                if not ring.wait(0.05):
                    idle += 0.05
                    if timeout is not None and idle >= timeout:
                        return
                continue
            idle = 0.0
            events: list[SyscallEvent] = []
            for at, length in spans:
                try:
                    event = decode(data[at:at + length])
                except (struct.error, ValueError, IndexError):
                    self._stats.bad_payloads += 1
                    continue
                if event is not None:
                    events.append(event)
            if self._capture is not None:
                self._capture.write_batch(data, spans)
            self._stats.payloads += len(spans)
            self._stats.events += len(events)
            if events:
                yield events

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]:
        for batch in self.batches(timeout=timeout):
            yield from batch

    def run_batches(self, deliver: Deliver) -> None:
        """Each ring batch, decoded, until ``stop``."""
        for batch in self.batches():
            deliver(batch)


__all__ = ["BpfError", "EbpfBackend", "missing", "object_path"]
