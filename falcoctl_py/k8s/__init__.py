"""Kubernetes access for falcoctl_py: the only package that imports the ``kubernetes`` client.

Public API: ``connect(*, context, kubeconfig) -> Kube``, ``cluster_facts(*, context=None, kubeconfig=None) ->
ClusterFacts``, and the modules ``preflight``, ``objects``, ``rollout``, ``metrics``. Every failure leaves as a
``ClusterError`` (exit 3) with one line naming the operation.
"""

from falcoctl_py.k8s.client import Kube, connect
from falcoctl_py.k8s.facts import ClusterFacts, PoolInfo, cluster_facts, facts_from

__all__ = ["ClusterFacts", "Kube", "PoolInfo", "cluster_facts", "connect", "facts_from"]
