"""Container ids from a process's cgroup path (containerd, CRI-O, cri-dockerd and Docker; systemd and cgroupfs).

Owns: the table of path patterns (one regex per runtime and cgroup driver), reading ``/proc/<pid>/cgroup`` and
turning a match into ``CgroupMatch`` (12-character short id, full id, runtime, pod uid when the path carries one).
A process outside any container gets ``host``.

Must not: talk to a container runtime or the API server (``engine.state.pods`` maps ids to pods).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HOST = "host"

_ID = r"(?P<id>[0-9a-f]{64})"
_POD = r"(?:.*[/-]pod(?P<pod>[0-9a-f_-]{36})(?:\.slice)?/)?"
# (runtime, pattern) in the order tried; every pattern is searched in one cgroup path line.
PATTERNS: tuple[tuple[str | None, re.Pattern[str]], ...] = (
    ("containerd", re.compile(_POD + r".*cri-containerd-" + _ID + r"\.scope")),        # systemd driver
    ("cri-o", re.compile(_POD + r".*crio-(?:conmon-)?" + _ID + r"(?:\.scope)?")),       # both drivers
    ("docker", re.compile(_POD + r".*docker-" + _ID + r"\.scope")),                       # systemd (cri-dockerd)
    ("docker", re.compile(r"/docker/" + _ID + r"(?:/|$)")),                               # cgroupfs, plain docker
    ("containerd", re.compile(r"/system\.slice/containerd\.service/.*:cri-containerd:" + _ID)),
    (None, re.compile(_POD + _ID + r"(?:/|$)")),  # cgroupfs under kubepods/<qos>/pod<uid>/<id>: runtime unknown
)


@dataclass(frozen=True, slots=True)
class CgroupMatch:
    id: str  # 12-character short id, or "host"
    full_id: str | None = None
    runtime: str | None = None
    pod_uid: str | None = None


HOST_MATCH = CgroupMatch(HOST)


def match_path(path: str) -> CgroupMatch | None:
    """The container a single cgroup path belongs to, or None."""
    for runtime, pattern in PATTERNS:
        found = pattern.search(path)
        if found is None:
            continue
        full = found.group("id")
        pod = found.groupdict().get("pod")
        return CgroupMatch(full[:12], full, runtime, pod.replace("_", "-") if pod else None)
    return None


def from_cgroup_text(text: str) -> CgroupMatch:
    """Parse the content of ``/proc/<pid>/cgroup`` (v1 and v2 lines ``id:controllers:path``)."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        found = match_path(path)
        if found is not None:
            return found
    return HOST_MATCH


def for_pid(pid: int, *, proc: str = "/proc") -> CgroupMatch:
    """The container of a live process (``host`` when it has none or is gone)."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            return from_cgroup_text(fh.read())
    except OSError:
        return HOST_MATCH
