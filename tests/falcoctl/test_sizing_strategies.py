"""Sizing strategies: found by module, selectable per profile or flag, and ``guaranteed`` sets requests = limits."""

from __future__ import annotations

import dataclasses

import pytest

from falcoctl_py import sizing_strategies
from falcoctl_py.cost_model import load_cost_model
from falcoctl_py.errors import UsageError
from falcoctl_py.profiles import load_profile
from falcoctl_py.sizing import size_profile
from falcoctl_py.values import build_values


def test_registry() -> None:
    assert sizing_strategies.names() == ["guaranteed", "percentile"]
    assert sizing_strategies.DEFAULT == "percentile"
    with pytest.raises(UsageError, match="choose from guaranteed, percentile"):
        sizing_strategies.get("magic")


def test_guaranteed_reserves_the_percentile_limits() -> None:
    profile = load_profile("large")
    cost = load_cost_model()
    base = {p.facts.name: p for p in size_profile(profile, cost).pools}
    guaranteed_profile = dataclasses.replace(
        profile, sizing=dataclasses.replace(profile.sizing, strategy="guaranteed")
    )
    guaranteed = size_profile(guaranteed_profile, cost).pools
    for p in guaranteed:
        assert p.cpu_request_m == p.cpu_limit_m == base[p.facts.name].cpu_limit_m
        assert p.memory_request_bytes == p.memory_limit_bytes == base[p.facts.name].memory_limit_bytes
        reasons = {r.quantity: r for r in p.reasons}
        assert reasons["cpu_request"].value == p.cpu_request_m
        assert "Guaranteed QoS" in reasons["memory_request"].basis


def test_strategy_reaches_chart_values() -> None:
    values = build_values(profile="medium", strategy="guaranteed")
    for pool in values["nodePools"]["pools"]:
        assert pool["resources"]["requests"] == pool["resources"]["limits"]
    default = build_values(profile="medium")
    assert any(p["resources"]["requests"] != p["resources"]["limits"] for p in default["nodePools"]["pools"])
