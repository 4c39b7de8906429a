"""Sizing: pool facts + engine cost model + policy -> CPU/memory requests and limits, with a reason per number.

Owns: the arithmetic, as pure functions (no I/O, no cluster, no helm). It follows the two recommenders operators
already trust and says so in every ``Reason``:

- CPU request: the expected load at the policy percentile (VPA targets p90) times the cost per event, plus a
  margin (VPA: +15%), never below the floor. CPU limit: never below what the p99 (peak) rate needs with the cost's
  upper bound (value + spread) plus the margin, so a burst is throttled only past the expected peak.
- Memory request: base + per-process + per-pod + queued alerts at the policy backlog, plus the margin, floored;
  after an OOM kill it is bumped like KRR does (x1.2 or +100 MiB, whichever is larger). Memory limit: the larger of
  that bump over the request and what a full output queue needs (the queue is bounded, so this is a real peak).
- The CPU limit is at least ``MIN_CPU_LIMIT_M``: rules compile at start and on every hot reload.
- A DaemonSet pod that would take more than a quarter of its node is flagged, and capped at half the node.

It must not read profiles or cost-model files (callers pass records) or format reports (``falcoctl_py.report``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from falcoctl_py.cost_model import CostModel
from falcoctl_py.profiles import Profile, Rate, SizingPolicy
from falcoctl_py.quantity import MIB

MIN_NODE_CPUS = 2
MAX_NODE_CPUS = 192
OOM_BUMP_FACTOR = 1.2
OOM_BUMP_MIN_BYTES = 100 * MIB
CPU_STEP_M = 5
NODE_WARN_FRACTION = 0.25
NODE_CAP_FRACTION = 0.5
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# Rules compile at start and again on every hot reload; a CPU limit below this stretches that past the probes.
MIN_CPU_LIMIT_M = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """Why one number has its value."""

    quantity: str  # cpu_request | cpu_limit | memory_request | memory_limit
    value: int  # millicores or bytes
    basis: str  # what the number is computed from
    percentile: int | None = None
    margin: float | None = None
    floor: int | None = None
    floor_applied: bool = False
    bump: str | None = None
    follows: str = ""  # VPA / KRR convention followed


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """One group of identical engine pods: a node pool's DaemonSet, or the audit-webhook Deployment."""

    name: str
    kind: str  # "node" | "webhook" | "auditlog"
    node_cpus: int
    node_memory_bytes: int
    count: int  # nodes (DaemonSet) or replicas (webhook)
    pods_per_node: int
    processes_per_node: int
    rates: dict[str, Rate] = field(default_factory=dict)  # events/s one engine pod receives, per source
    oom_killed: bool = False

    def __post_init__(self) -> None:
        if not MIN_NODE_CPUS <= self.node_cpus <= MAX_NODE_CPUS:
            raise ValueError(
                f"pool {self.name}: node shape {self.node_cpus} CPUs outside {MIN_NODE_CPUS}..{MAX_NODE_CPUS}"
            )
        if self.count < 1:
            raise ValueError(f"pool {self.name}: count must be >= 1")


@dataclass(frozen=True, slots=True)
class PoolSizing:
    facts: PoolFacts
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_bytes: int
    memory_limit_bytes: int
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SizingResult:
    profile: str
    policy: SizingPolicy
    cost_model_origin: str
    cost_model_method: str
    estimated_terms: tuple[str, ...]
    pools: tuple[PoolSizing, ...]


def ceil_step(value: float, step: int) -> int:
    return int(math.ceil(value / step - 1e-9) * step)


def with_margin(value: float, margin: float) -> float:
    return value * (1.0 + margin)


def oom_bump(num_bytes: int) -> int:
    """KRR's OOM bump: x1.2 or +100 MiB, whichever is larger."""
    return max(math.ceil(num_bytes * OOM_BUMP_FACTOR), num_bytes + OOM_BUMP_MIN_BYTES)


def cpu_millicores_at(facts: PoolFacts, cost: CostModel, percentile: int, *, upper: bool = False) -> float:
    """CPU the pod needs for its sources' load at ``percentile``; ``upper`` adds the cost's spread."""
    total = 0.0
    for source, rate in facts.rates.items():
        est = cost.cpu_seconds_per_1k[source]
        per_1k = est.value + (est.spread if upper else 0.0)
        total += rate.at(percentile) * per_1k  # (events/s / 1000) * (s / 1k events) * 1000 m
    return total


def memory_working_bytes(facts: PoolFacts, cost: CostModel, *, queued_alerts: int) -> float:
    mem = cost.memory
    tracked = facts.kind != "webhook"  # the webhook keeps no process table or pod cache
    return (
        mem["base_bytes"].value
        + (mem["per_process_bytes"].value * facts.processes_per_node if tracked else 0.0)
        + (mem["per_pod_bytes"].value * facts.pods_per_node if tracked else 0.0)
        + mem["per_queued_alert_bytes"].value * queued_alerts
    )


def size_pool(
    facts: PoolFacts, cost: CostModel, policy: SizingPolicy, *, queue_size: int = 10000
) -> PoolSizing:
    """Requests and limits for one pool, with a ``Reason`` per number."""
    p, margin = policy.percentile, policy.margin
    warnings: list[str] = []

    target = cpu_millicores_at(facts, cost, p)
    cpu_req_raw = ceil_step(with_margin(target, margin), CPU_STEP_M)
    cpu_req = max(cpu_req_raw, policy.floor_cpu_millicores)
    peak = cpu_millicores_at(facts, cost, 99, upper=True)
    cpu_lim = max(cpu_req, ceil_step(with_margin(peak, margin), CPU_STEP_M), MIN_CPU_LIMIT_M)

    working = memory_working_bytes(facts, cost, queued_alerts=policy.queued_alerts)
    mem_req_raw = ceil_step(with_margin(working, margin), MIB)
    mem_req = max(mem_req_raw, policy.floor_memory_bytes)
    bump_note = None
    if facts.oom_killed:
        mem_req = ceil_step(oom_bump(mem_req), MIB)
        bump_note = "OOM kill seen: x1.2 or +100 MiB, whichever larger"
    full_queue = ceil_step(memory_working_bytes(facts, cost, queued_alerts=queue_size), MIB)
    mem_lim = max(ceil_step(oom_bump(mem_req), MIB), full_queue)

    cpu_cap_note = mem_cap_note = ""
    if facts.kind != "webhook":
        node_m = facts.node_cpus * 1000
        if cpu_req > NODE_WARN_FRACTION * node_m:
            warnings.append(
                f"CPU request {cpu_req}m is over {NODE_WARN_FRACTION:.0%} of a {facts.node_cpus}-CPU "
                "node; expect drops at peak or reduce the rules' load"
            )
        cap = int(NODE_CAP_FRACTION * node_m)
        if cpu_lim > cap:
            warnings.append(f"CPU capped at half the node ({cap}m); the p99 load needs {cpu_lim}m")
            cpu_lim, cpu_req = cap, min(cpu_req, cap)
            cpu_cap_note = f"; capped at half the node ({cap}m)"
        mem_cap = ceil_step(NODE_CAP_FRACTION * facts.node_memory_bytes, MIB)
        if mem_lim > mem_cap:
            warnings.append(f"memory limit capped at half the node ({mem_cap // MIB} MiB)")
            mem_lim, mem_req = mem_cap, min(mem_req, mem_cap)
            mem_cap_note = f"; capped at half the node ({mem_cap // MIB} MiB)"

    reasons = (
        Reason(
            quantity="cpu_request",
            value=cpu_req,
            percentile=p,
            margin=margin,
            basis=f"p{p} load {target:.1f}m + {margin:.0%} margin{cpu_cap_note}",
            floor=policy.floor_cpu_millicores,
            floor_applied=cpu_req_raw < policy.floor_cpu_millicores,
            follows="VPA target (percentile + safety margin)",
        ),
        Reason(
            quantity="cpu_limit",
            value=cpu_lim,
            percentile=99,
            margin=margin,
            basis=f"p99 load at cost+spread {peak:.1f}m + {margin:.0%} margin, >= request, "
            f">= {MIN_CPU_LIMIT_M}m for rule (re)compiles{cpu_cap_note}",
            floor=MIN_CPU_LIMIT_M,
            floor_applied=cpu_lim == MIN_CPU_LIMIT_M,
            follows="VPA upper bound (peak, never below)",
        ),
        Reason(
            quantity="memory_request",
            value=mem_req,
            margin=margin,
            basis=f"working set {working / MIB:.0f} MiB with {policy.queued_alerts} queued alerts "
            f"+ {margin:.0%} margin{mem_cap_note}",
            floor=policy.floor_memory_bytes,
            floor_applied=mem_req_raw < policy.floor_memory_bytes and not facts.oom_killed,
            bump=bump_note,
            follows="KRR memory (peak + buffer, OOM bump)",
        ),
        Reason(
            quantity="memory_limit",
            value=mem_lim,
            basis=f"max(request bumped, full output queue of {queue_size} alerts {full_queue / MIB:.0f} MiB)"
            f"{mem_cap_note}",
            bump="x1.2 or +100 MiB, whichever larger",
            follows="KRR OOM bump as headroom",
        ),
    )
    return PoolSizing(
        facts=facts,
        cpu_request_m=cpu_req,
        cpu_limit_m=cpu_lim,
        memory_request_bytes=mem_req,
        memory_limit_bytes=mem_lim,
        reasons=reasons,
        warnings=tuple(warnings),
    )


def pool_facts_from_profile(
    profile: Profile, *, webhook_replicas: int = 2, oom_killed: frozenset[str] = frozenset()
) -> list[PoolFacts]:
    """One ``PoolFacts`` per node pool, plus the webhook Deployment when audit events arrive by webhook.

    Syscall rates are per node. The audit stream is cluster-wide: the webhook is sized so that the surviving
    replicas carry it when one is down; with log-file delivery each control-plane node reads its API server's
    share.
    """
    facts: list[PoolFacts] = []
    audit = profile.rates.get("k8s_audit") if "k8s_audit" in profile.sources else None
    cp_pools = [p for p in profile.pools if CONTROL_PLANE_LABEL in p.labels]
    cp_nodes = sum(p.count for p in cp_pools) or 1
    for pool in profile.pools:
        rates: dict[str, Rate] = {}
        if "syscall" in profile.sources:
            rates["syscall"] = profile.node_rate(pool, "syscall")
        kind = "node"
        if audit and profile.audit_delivery == "log-file" and pool in cp_pools:
            rates["k8s_audit"] = Rate(audit.p50 / cp_nodes, audit.p90 / cp_nodes, audit.p99 / cp_nodes)
            kind = "auditlog"
        facts.append(
            PoolFacts(
                name=pool.name,
                kind=kind,
                node_cpus=pool.cpu,
                node_memory_bytes=pool.memory_bytes,
                count=pool.count,
                pods_per_node=pool.pods_per_node,
                processes_per_node=pool.processes_per_node,
                rates=rates,
                oom_killed=pool.name in oom_killed,
            )
        )
    if audit and profile.audit_delivery == "webhook":
        share = max(1, webhook_replicas - 1)
        largest = max(profile.pools, key=lambda p: p.cpu)
        facts.append(
            PoolFacts(
                name="webhook",
                kind="webhook",
                node_cpus=largest.cpu,
                node_memory_bytes=largest.memory_bytes,
                count=webhook_replicas,
                pods_per_node=0,
                processes_per_node=0,
                rates={"k8s_audit": Rate(audit.p50 / share, audit.p90 / share, audit.p99 / share)},
                oom_killed="webhook" in oom_killed,
            )
        )
    return facts


def size_profile(
    profile: Profile,
    cost: CostModel,
    *,
    webhook_replicas: int = 2,
    queue_size: int = 10000,
    oom_killed: frozenset[str] = frozenset(),
) -> SizingResult:
    from falcoctl_py import sizing_strategies  # the registry imports this module

    strategy = sizing_strategies.get(profile.sizing.strategy)
    pools = tuple(
        strategy.size_pool(f, cost, profile.sizing, queue_size=queue_size)
        for f in pool_facts_from_profile(profile, webhook_replicas=webhook_replicas, oom_killed=oom_killed)
    )
    return SizingResult(
        profile=profile.name,
        policy=profile.sizing,
        cost_model_origin=cost.origin,
        cost_model_method=cost.method,
        estimated_terms=tuple(cost.estimated_terms),
        pools=pools,
    )
