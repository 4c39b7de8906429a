"""Independent CPU accounting for a measured process: its own cgroup v2 (``cpu.stat``), else ``/proc/stat``.

Owns: creating, reading and removing a throw-away cgroup for the engine process of a local tuning run, and the
machine-wide ``/proc/stat`` fallback (busy jiffies against an idle baseline). The point is a second opinion on the
engine's self-reported CPU that does not come from reading the same ``/proc/<pid>/stat`` again.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cgroup2_root() -> Path | None:
    """Where the unified (v2) hierarchy is mounted, if anywhere."""
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return Path(parts[1])
    except OSError:
        pass
    return None


@dataclass
class CgroupMeter:
    """A child cgroup holding one process; ``usage_seconds()`` reads its accumulated CPU time."""

    path: Path

    @classmethod
    def create(cls, name: str) -> CgroupMeter | None:
        root = cgroup2_root()
        if root is None or not os.access(root, os.W_OK):
            return None
        path = root / name
        try:
            path.mkdir(exist_ok=True)
        except OSError:
            return None
        return cls(path)

    def add(self, pid: int) -> bool:
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
            return True
        except OSError:
            return False

    def usage_seconds(self) -> float:
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise OSError(f"{self.path}/cpu.stat has no usage_usec")

    def remove(self) -> None:
        """Move any remaining process back to the root and remove the cgroup."""
        root = self.path.parent
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (root / "cgroup.procs").write_text(pid)
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot (all CPUs), from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLK_TCK
