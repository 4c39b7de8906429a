"""The ``ebpf`` syscall backend: loads the CO-RE probe, fills its syscall filter from the rules, reads its ring.

Owns: the backend's lifecycle (open the object built at setup, size the ring and the per-CPU scratch maps, load,
write our own tgid and the syscall table, attach the four programs; on ``close()`` detach and free everything),
the up-front check ``check_ebpf()`` (BTF, the object, capabilities — one line naming what is missing), the
per-CPU kernel drop counters, and delivering decoded events in ring batches. Nothing is pinned: a killed engine's
programs go with its file descriptors.

Must not: evaluate rules, read ``/proc`` per event, or leave a program loaded once ``close()`` returned.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from engine.sources.base import SourceStats
from engine.sources.syscall.ebpf.decode import Decoder
from engine.sources.syscall.ebpf.libbpf import BpfError, BpfObject, Libbpf
from engine.sources.syscall.ebpf.ring import RingReader
from engine.sources.syscall.ebpf.specs import spec_table
from engine.state.proctable import ProcessTable

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


def _boot_epoch_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


class EbpfBackend:
    """A ``Source`` of syscall events from the ebpf probe."""

    name = "syscall"
    backend = "ebpf"

    def __init__(self, event_types: Iterable[str], *, table: ProcessTable | None = None,
                 containers: Callable[[str], Any] | None = None, watcher: Any = None,
                 ring_bytes: int = RING_BYTES, scan: bool = True) -> None:
        self.specs = spec_table(event_types)
        self.table = table if table is not None else ProcessTable()
        self.watcher = watcher
        self.ring_bytes = ring_bytes
        self.scan = scan
        self._decoder = Decoder(self.table, boot_ns=_boot_epoch_ns(), containers=containers)
        self._obj: BpfObject | None = None
        self._ring: RingReader | None = None
        self._stats = SourceStats()
        self._stopping = False
        self._cpus = 1

    @property
    def field_classes(self) -> tuple[Any, ...]:
        from engine.fields import field_classes
        return tuple(fc for fc in field_classes() if "syscall" in fc.sources)

    def start(self) -> None:
        lib = Libbpf()
        self._cpus = lib.num_possible_cpus()
        try:
            obj = self._obj = BpfObject(lib, str(object_path()))
            obj.resize("scratch", self._cpus)
            obj.resize("events", self.ring_bytes)
            obj.load()
            obj.update("settings", struct.pack("<I", 0), struct.pack("<I", os.getpid()))
            self._write_specs(self.specs)
            if self.scan:
                self.table.scan()
            self._ring = RingReader(obj.map_fd("events"), self.ring_bytes)
            for program in PROGRAMS:
                obj.attach(program)
            if self.watcher is not None:
                self.watcher.start()
        except BpfError as exc:
            self.close()
            from engine.sources.syscall import SyscallSourceUnavailable
            raise SyscallSourceUnavailable("ebpf", f"the probe did not load ({exc.strerror})") from exc
        except BaseException:
            self.close()
            raise

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

    def kernel_drops(self) -> int:
        """Records the kernel could not put in the ring, summed over CPUs."""
        if self._obj is None:
            return 0
        raw = self._obj.lookup("drops", struct.pack("<I", 0), 8 * self._cpus)
        return sum(struct.unpack(f"<{self._cpus}Q", raw))

    def stats(self) -> dict[str, int]:
        out = self._stats.as_dict()
        out["drops"] = self.kernel_drops() + self._stats.drops
        out["process_table"] = len(self.table)
        out["decode_errors"] = self._decoder.undecodable
        return out

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self._stopping = True
        if self.watcher is not None:
            self.watcher.stop()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batches(self, *, timeout: float | None = None) -> Iterator[list[Any]]:
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
            view = memoryview(data)
            events = []
            for at, length in spans:
                try:
                    event = decode(view[at:at + length])
                except (struct.error, ValueError, IndexError):
                    self._stats.bad_payloads += 1
                    continue
                if event is not None:
                    events.append(event)
            self._stats.payloads += len(spans)
            self._stats.events += len(events)
            if events:
                yield events

    def events(self, *, timeout: float | None = None) -> Iterator[Any]:
        for batch in self.batches(timeout=timeout):
            yield from batch

    def __iter__(self) -> Iterator[Any]:
        return self.events()

    def run(self, callback: Callable[[Any], object]) -> None:
        for event in self.events():
            callback(event)

    def run_batches(self, callback: Callable[[Iterable[Any]], object]) -> None:
        for batch in self.batches():
            callback(batch)


__all__ = ["BpfError", "EbpfBackend", "missing", "object_path"]
