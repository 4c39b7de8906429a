"""``percentile`` (default): VPA-style requests at a load percentile plus margin, limits covering the peak;
KRR-style memory with the OOM bump. The arithmetic lives in ``falcoctl_py.sizing.size_pool``."""

from __future__ import annotations

from falcoctl_py.cost_model import CostModel
from falcoctl_py.profiles import SizingPolicy
from falcoctl_py.sizing import PoolFacts, PoolSizing
from falcoctl_py.sizing import size_pool as _size_pool

NAME = "percentile"
DESCRIPTION = "requests at the policy percentile + margin (VPA), limits cover p99; Burstable QoS"


def size_pool(facts: PoolFacts, cost: CostModel, policy: SizingPolicy, *, queue_size: int) -> PoolSizing:
    return _size_pool(facts, cost, policy, queue_size=queue_size)
