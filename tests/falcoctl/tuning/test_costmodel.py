"""Cost-model fitting recovers known per-source costs from noisy intervals, and keeps estimates marked."""

from __future__ import annotations

import random

from falcoctl_py.tuning.costmodel import build_cost_model, fit_cpu
from falcoctl_py.tuning.samples import Interval, Sample, intervals

DEFAULTS = {
    "cpu_seconds_per_1k_events": {
        "k8s_audit": {"value": 0.02, "spread": 0, "samples": 0, "estimate": True, "how": "default"},
        "syscall": {"value": 0.05, "spread": 0, "samples": 0, "estimate": True, "how": "default"},
    },
    "memory": {"base_bytes": {"value": 5e7, "spread": 0, "samples": 0, "estimate": True, "how": "default"}},
}


def synth(n: int, *, audit_cost: float, sys_cost: float, idle: float, noise: float) -> list[Interval]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        a = rng.uniform(0, 8000)
        s = rng.uniform(0, 3000) if i % 3 else 0.0
        cpu = idle + audit_cost * a / 1000 + sys_cost * s / 1000 + rng.gauss(0, noise)
        out.append(Interval(t=i, dt=1.0, cpu_cores=cpu, rss_bytes=6e7, event_rates={"k8s_audit": a, "syscall": s},
                            drop_rates={}, node="n", pool="p"))
    return out


def test_fit_recovers_two_source_costs() -> None:
    fits = fit_cpu(synth(60, audit_cost=0.015, sys_cost=0.08, idle=0.01, noise=0.005), idle_cores=0.01)
    assert abs(fits["k8s_audit"].value - 0.015) < 0.002
    assert abs(fits["syscall"].value - 0.08) < 0.005
    assert fits["syscall"].spread > 0


def test_unmeasured_source_keeps_default_marked_estimate() -> None:
    ivs = [iv for iv in synth(40, audit_cost=0.02, sys_cost=0.0, idle=0.0, noise=0.001)]
    ivs = [Interval(t=iv.t, dt=1, cpu_cores=iv.cpu_cores - 0.0, rss_bytes=7e7,
                    event_rates={"k8s_audit": iv.event_rates["k8s_audit"]}, drop_rates={}, node="n", pool="p")
           for iv in ivs]
    model = build_cost_model(ivs, idle_cores=0.0, idle_rss_bytes=5.5e7, defaults=DEFAULTS, engine_version="0.1.0",
                             method="tune-local")
    assert model["cpu_seconds_per_1k_events"]["syscall"]["estimate"] is True
    assert model["cpu_seconds_per_1k_events"]["k8s_audit"]["estimate"] is False
    assert model["memory"]["base_bytes"] == {"value": 5.5e7, "spread": 0.0, "samples": 1, "estimate": False,
                                             "how": "tune-local: engine RSS with rules loaded, before events"}


def test_intervals_skip_counter_resets() -> None:
    s = [Sample(t=0, cpu_seconds=1.0, rss_bytes=1, events={"k8s_audit": 10}),
         Sample(t=1, cpu_seconds=1.5, rss_bytes=1, events={"k8s_audit": 110}),
         Sample(t=2, cpu_seconds=0.1, rss_bytes=1, events={"k8s_audit": 5})]
    (iv,) = intervals(s)
    assert iv.cpu_cores == 0.5 and iv.event_rates == {"k8s_audit": 100}
