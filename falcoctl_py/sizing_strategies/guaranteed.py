"""``guaranteed``: requests equal to limits (the ``percentile`` limits), so engine pods get the Guaranteed QoS
class — last to be evicted under node pressure and never CPU-starved by neighbours — at the price of reserving the
peak on every node. Kubernetes' own rule: a pod is Guaranteed only when every container's requests equal its
limits for both CPU and memory."""

from __future__ import annotations

from dataclasses import replace

from falcoctl_py.cost_model import CostModel
from falcoctl_py.profiles import SizingPolicy
from falcoctl_py.sizing import PoolFacts, PoolSizing, Reason
from falcoctl_py.sizing import size_pool as _size_pool

NAME = "guaranteed"
DESCRIPTION = "requests = limits (peak reserved): Guaranteed QoS, evicted last"


def size_pool(facts: PoolFacts, cost: CostModel, policy: SizingPolicy, *, queue_size: int) -> PoolSizing:
    base = _size_pool(facts, cost, policy, queue_size=queue_size)
    reasons: list[Reason] = []
    for r in base.reasons:
        if r.quantity == "cpu_request":
            r = replace(r, value=base.cpu_limit_m, basis=f"= CPU limit for Guaranteed QoS (was: {r.basis})")
        elif r.quantity == "memory_request":
            r = replace(
                r, value=base.memory_limit_bytes, basis=f"= memory limit for Guaranteed QoS (was: {r.basis})"
            )
        reasons.append(r)
    return replace(
        base,
        cpu_request_m=base.cpu_limit_m,
        memory_request_bytes=base.memory_limit_bytes,
        reasons=tuple(reasons),
    )
