"""Who raised an alert, as bounded metric labels: matches per (rule, source, namespace, workload).

Owns: reading the namespace and workload of a matched event (k8s audit: the target namespace and the requesting
user or service account; syscall: the pod's namespace and its owner, from the pod name without the ReplicaSet or
DaemonSet hash, else the image repository, else ``host``) and ``WorkloadCounter``, which keeps the label sets
bounded: at most ``per_rule`` (namespace, workload) pairs per rule and ``max_series`` in all; matches past either
limit are counted under namespace and workload ``other``, so nothing is lost and the series count stays fixed.

Must not: import prometheus_client (``engine.metrics`` exports ``snapshot()``), or evaluate rules.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.events.k8s_audit import HeaderEvent

if TYPE_CHECKING:
    from engine.events.base import Event

OTHER = "other"
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet Kubernetes draws name suffixes from (no vowels)
_DEPLOYMENT = re.compile(rf"^(?P<owner>.+)-{_SAFE}{{5,10}}-{_SAFE}{{5}}$")
_SHORT_HASH = re.compile(rf"^(?P<owner>.+)-{_SAFE}{{5}}$")
_ORDINAL = re.compile(r"^(?P<owner>.+)-\d+$")


def pod_owner(pod: str) -> str:
    """The workload a pod name most likely belongs to (Deployment, DaemonSet/Job, StatefulSet naming)."""
    for pattern in (_DEPLOYMENT, _SHORT_HASH, _ORDINAL):
        m = pattern.match(pod)
        if m:
            return m.group("owner")
    return pod


def workload_of(event: Event) -> tuple[str, str]:
    """(namespace, workload) of an event; empty namespace when it has none."""
    if event.source == "k8s_audit":
        if type(event) is HeaderEvent:  # read through its typed header: nothing else of the event is decoded
            return event.objectRef.namespace or "", event.user.username or ""
        obj = getattr(event, "obj", None) or {}  # the audit event's JSON object
        ref = obj.get("objectRef") or {}
        user = obj.get("user") or {}
        return str(ref.get("namespace") or ""), str(user.get("username") or "")
    c = getattr(event, "container", None)
    if c is None:
        return "", "host"
    if c.pod_name:
        return str(c.pod_namespace or ""), pod_owner(c.pod_name)
    return str(c.pod_namespace or ""), str(c.image_repository or c.image or c.id)


def key_of(rule: str, source: str, event: Event) -> tuple[str, str, str, str]:
    """The counter key of one match: ``(rule, source, namespace, workload)`` (``other`` for both when the event
    cannot be read)."""
    try:
        if type(event) is HeaderEvent:  # the common case inline: nothing else of the event is read
            return rule, source, event.objectRef.namespace or "", event.user.username or ""
        ns, workload = workload_of(event)
    except Exception:  # noqa: BLE001 - an event we cannot read still counts
        ns, workload = OTHER, OTHER
    return rule, source, ns, workload


class WorkloadCounter:
    """Thread-safe bounded counter of matches per (rule, source, namespace, workload)."""

    def __init__(self, *, per_rule: int = 20, max_series: int = 2000) -> None:
        self.per_rule = per_rule
        self.max_series = max_series
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, str], int] = {}
        self._pairs: dict[tuple[str, str], int] = {}  # (rule, source) -> distinct pairs kept

    def add(self, rule: str, source: str, event: Event) -> None:
        self.add_counts({key_of(rule, source, event): 1})

    def add_counts(self, counts: Mapping[tuple[str, str, str, str], int]) -> None:
        """Count many matches at once (``(rule, source, namespace, workload) -> n``, as ``key_of`` gives the
        keys), under one lock: the engine tallies a batch's alerts, then adds them here."""
        with self._lock:
            kept_counts = self._counts
            pairs = self._pairs
            for key, n in counts.items():
                if key not in kept_counts:
                    rule, source = key[0], key[1]
                    kept = pairs.get((rule, source), 0)
                    if kept >= self.per_rule or len(kept_counts) >= self.max_series:
                        key = (rule, source, OTHER, OTHER)
                    else:
                        pairs[(rule, source)] = kept + 1
                kept_counts[key] = kept_counts.get(key, 0) + n

    def snapshot(self) -> dict[tuple[str, str, str, str], int]:
        with self._lock:
            return dict(self._counts)
