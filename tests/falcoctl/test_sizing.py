"""Sizing arithmetic: percentile target, margin, floors, OOM bump, peak-covering CPU limit, node shapes 2..192."""

from __future__ import annotations

import math

import pytest

from falcoctl_py.cost_model import CostModel, Estimate
from falcoctl_py.profiles import Rate, SizingPolicy, load_profile
from falcoctl_py.quantity import MIB
from falcoctl_py.sizing import (
    MIN_CPU_LIMIT_M,
    OOM_BUMP_MIN_BYTES,
    PoolFacts,
    oom_bump,
    pool_facts_from_profile,
    size_pool,
    size_profile,
)


def est(value: float, spread: float = 0.0) -> Estimate:
    return Estimate(value=value, spread=spread, samples=10, estimate=False, how="test")


def cost(
    *,
    syscall: float = 1.0,
    audit: float = 0.5,
    spread: float = 0.0,
    base: int = 50 * MIB,
    per_process: int = 1024,
    per_pod: int = 4096,
    per_alert: int = 2048,
) -> CostModel:
    return CostModel(
        engine_version="t",
        measured_at="t",
        method="benchmark",
        cpu_seconds_per_1k={"syscall": est(syscall, spread), "k8s_audit": est(audit, spread)},
        memory={
            "base_bytes": est(base),
            "per_process_bytes": est(per_process),
            "per_pod_bytes": est(per_pod),
            "per_queued_alert_bytes": est(per_alert),
        },
        origin="test",
    )


POLICY = SizingPolicy(
    percentile=90, margin=0.15, queued_alerts=100, floor_cpu_millicores=50, floor_memory_bytes=64 * MIB
)


DEFAULT_RATE = Rate(100, 400, 1000)


def facts(
    *, rate: Rate = DEFAULT_RATE, cpus: int = 8, oom: bool = False, procs: int = 500, pods: int = 50
) -> PoolFacts:
    return PoolFacts(
        name="p",
        kind="node",
        node_cpus=cpus,
        node_memory_bytes=cpus * 4 * 1024 * MIB,
        count=3,
        pods_per_node=pods,
        processes_per_node=procs,
        rates={"syscall": rate},
        oom_killed=oom,
    )


def test_cpu_request_is_percentile_load_plus_margin() -> None:
    s = size_pool(facts(), cost(syscall=1.0), POLICY)
    # p90 = 400 events/s x 1 CPU-s per 1k events = 400m, +15% = 460m
    assert s.cpu_request_m == 460
    reason = next(r for r in s.reasons if r.quantity == "cpu_request")
    assert reason.percentile == 90 and reason.margin == 0.15 and not reason.floor_applied


@pytest.mark.parametrize("percentile,expected", [(50, 115), (90, 460), (99, 1150)])
def test_percentile_choice_moves_the_request(percentile: int, expected: int) -> None:
    policy = SizingPolicy(percentile, 0.15, 100, 50, 64 * MIB)
    assert size_pool(facts(), cost(), policy).cpu_request_m == expected


def test_cpu_floor_applies_to_idle_pools() -> None:
    s = size_pool(facts(rate=Rate(0, 1, 2)), cost(), POLICY)
    assert s.cpu_request_m == 50
    assert next(r for r in s.reasons if r.quantity == "cpu_request").floor_applied


def test_cpu_limit_covers_p99_at_upper_cost_and_never_below_request() -> None:
    s = size_pool(facts(rate=Rate(100, 400, 2000)), cost(syscall=1.0, spread=0.5), POLICY)
    # p99 2000/s x (1.0 + 0.5) = 3000m, +15% = 3450m
    assert s.cpu_limit_m == 3450 >= s.cpu_request_m
    low = size_pool(facts(rate=Rate(1, 2, 3)), cost(), POLICY)
    assert low.cpu_limit_m == MIN_CPU_LIMIT_M  # rule compiles need headroom even when idle


def test_memory_request_counts_processes_pods_alerts_plus_margin() -> None:
    s = size_pool(
        facts(procs=1000, pods=100),
        cost(base=100 * MIB, per_process=1024, per_pod=4096, per_alert=2048),
        POLICY,
    )
    working = 100 * MIB + 1000 * 1024 + 100 * 4096 + 100 * 2048
    assert s.memory_request_bytes == math.ceil(working * 1.15 / MIB) * MIB


def test_memory_floor() -> None:
    s = size_pool(facts(procs=1, pods=1), cost(base=1 * MIB), POLICY)
    assert s.memory_request_bytes == 64 * MIB
    assert next(r for r in s.reasons if r.quantity == "memory_request").floor_applied


@pytest.mark.parametrize(
    "before,expected",
    [
        (100 * MIB, 200 * MIB),  # +100 MiB beats x1.2
        (1000 * MIB, 1200 * MIB),  # x1.2 beats +100 MiB
        (500 * MIB, 600 * MIB),  # equal: both 600 MiB
    ],
)
def test_oom_bump_takes_the_larger(before: int, expected: int) -> None:
    assert oom_bump(before) == expected


def test_oom_kill_bumps_the_request_and_says_so() -> None:
    plain = size_pool(facts(), cost(base=400 * MIB), POLICY)
    bumped = size_pool(facts(oom=True), cost(base=400 * MIB), POLICY)
    assert bumped.memory_request_bytes == math.ceil(oom_bump(plain.memory_request_bytes) / MIB) * MIB
    assert next(r for r in bumped.reasons if r.quantity == "memory_request").bump
    assert bumped.memory_limit_bytes >= bumped.memory_request_bytes + OOM_BUMP_MIN_BYTES


def test_memory_limit_holds_a_full_output_queue() -> None:
    s = size_pool(facts(), cost(per_alert=10 * 1024), POLICY, queue_size=50_000)
    assert s.memory_limit_bytes >= 50 * MIB + 50_000 * 10 * 1024


@pytest.mark.parametrize("cpus", [2, 4, 8, 16, 32, 64, 96, 128, 192])
def test_node_shapes_2_to_192(cpus: int) -> None:
    s = size_pool(facts(cpus=cpus, rate=Rate(50 * cpus, 200 * cpus, 600 * cpus)), cost(syscall=0.1), POLICY)
    assert 0 < s.cpu_request_m <= s.cpu_limit_m <= cpus * 1000 // 2
    assert s.memory_request_bytes <= s.memory_limit_bytes <= cpus * 4 * 1024 * MIB // 2


@pytest.mark.parametrize("cpus", [1, 193, 0])
def test_node_shapes_outside_range_refused(cpus: int) -> None:
    with pytest.raises(ValueError, match="outside 2..192"):
        facts(cpus=cpus)


def test_small_node_overload_is_capped_and_warned() -> None:
    s = size_pool(facts(cpus=2, rate=Rate(5000, 8000, 20000)), cost(syscall=1.0), POLICY)
    assert s.cpu_limit_m == 1000 and s.cpu_request_m <= 1000
    assert any("half the node" in w for w in s.warnings)
    assert any("over 25%" in w for w in s.warnings)


def test_webhook_sized_for_a_lost_replica_and_without_process_table() -> None:
    profile = load_profile("medium")
    pools = {f.name: f for f in pool_facts_from_profile(profile, webhook_replicas=3)}
    audit = profile.rates["k8s_audit"]
    assert pools["webhook"].rates["k8s_audit"].p90 == pytest.approx(audit.p90 / 2)
    assert pools["webhook"].processes_per_node == 0
    assert "k8s_audit" not in pools["general"].rates  # node pods get no audit stream with webhook delivery


def test_log_file_delivery_splits_audit_over_control_plane_nodes() -> None:
    profile = load_profile("audit-only")
    pools = {f.name: f for f in pool_facts_from_profile(profile)}
    assert pools["control-plane"].kind == "auditlog"
    assert pools["control-plane"].rates["k8s_audit"].p99 == pytest.approx(300 / 3)
    assert "webhook" not in pools and pools["workers"].rates == {}


def test_pool_rate_override_is_used() -> None:
    result = size_profile(load_profile("large"), cost(syscall=1.0))
    by = {p.facts.name: p for p in result.pools}
    assert by["highmem"].facts.rates["syscall"].p90 == 2000
    assert by["highmem"].cpu_request_m > by["general"].cpu_request_m


def test_reasons_carry_the_final_numbers() -> None:
    for s in (
        size_pool(facts(), cost(), POLICY),
        size_pool(facts(cpus=2, rate=Rate(5000, 8000, 20000)), cost(syscall=1.0), POLICY),
    ):
        by = {r.quantity: r.value for r in s.reasons}
        assert by == {
            "cpu_request": s.cpu_request_m,
            "cpu_limit": s.cpu_limit_m,
            "memory_request": s.memory_request_bytes,
            "memory_limit": s.memory_limit_bytes,
        }
