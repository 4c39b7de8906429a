"""DaemonSet rollout watch: follow a DaemonSet through the watch API until every pod runs the new template.

Owns: the completion rule (observedGeneration caught up; updated, ready and available all equal desired) and
reporting progress to a callback (the CLI feeds a ``rich`` progress bar). It must not render or print anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s.client import Kube, translate


@dataclass(frozen=True)
class RolloutState:
    name: str
    generation: int
    observed_generation: int
    desired: int
    updated: int
    ready: int
    available: int

    @property
    def done(self) -> bool:
        return (
            self.observed_generation >= self.generation
            and self.updated == self.desired
            and self.ready == self.desired
            and self.available == self.desired
        )

    def line(self) -> str:
        return (
            f"{self.name}: {self.updated}/{self.desired} updated, {self.ready} ready, {self.available} available"
            + (
                ""
                if self.observed_generation >= self.generation
                else " (controller has not seen the change yet)"
            )
        )


def state_of(ds: Any) -> RolloutState:
    st = ds.status
    return RolloutState(
        name=ds.metadata.name,
        generation=int(ds.metadata.generation or 0),
        observed_generation=int(st.observed_generation or 0) if st else 0,
        desired=int(st.desired_number_scheduled or 0) if st else 0,
        updated=int(st.updated_number_scheduled or 0) if st else 0,
        ready=int(st.number_ready or 0) if st else 0,
        available=int(st.number_available or 0) if st else 0,
    )


def _as_model(kube: Kube, obj: Any) -> Any:
    if isinstance(obj, dict):  # a watch event the client could not map to a model
        return client.V1DaemonSet.from_dict(obj)
    return obj


def wait_rollout(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    timeout: float,
    on_progress: Callable[[RolloutState], None] = lambda s: None,
) -> RolloutState:
    """Watch DaemonSet ``namespace/name`` until it is rolled out; ``ClusterError`` on timeout or deletion."""
    deadline = time.monotonic() + timeout
    last: RolloutState | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            where = last.line() if last else "no status seen"
            raise ClusterError(f"daemonset {namespace}/{name} not rolled out after {timeout:.0f}s: {where}")
        w = watch.Watch()
        try:
            for event in w.stream(
                kube.apps().list_namespaced_daemon_set,
                namespace,
                field_selector=f"metadata.name={name}",
                timeout_seconds=max(1, int(remaining)),
                _request_timeout=remaining + 5,
            ):
                ds = _as_model(kube, event["object"])
                if ds.metadata.name != name:
                    continue  # the field selector is a request; check the answer too
                if event["type"] == "DELETED":
                    raise ClusterError(f"daemonset {namespace}/{name} was deleted during the rollout")
                last = state_of(ds)
                on_progress(last)
                if last.done:
                    return last
                if time.monotonic() >= deadline:
                    break
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                continue
            raise translate(exc, f"watching daemonset {namespace}/{name}", server=kube.server) from exc
        finally:
            w.stop()
