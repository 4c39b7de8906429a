"""Kubernetes quantities: parsing every suffix form, rounding up, printing back the canonical short form."""

from __future__ import annotations

import pytest

from falcoctl_py.quantity import QuantityError, cpu_millicores, format_cpu, format_memory, memory_bytes


@pytest.mark.parametrize(
    "text,millicores",
    [
        ("250m", 250),
        ("1", 1000),
        ("1.5", 1500),
        ("0.1", 100),
        (2, 2000),
        (0.25, 250),
        ("1e3", 1_000_000),
        ("0.0001", 1),
    ],
)
def test_cpu(text: str | float, millicores: int) -> None:
    assert cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    "text,num",
    [
        ("256Mi", 256 << 20),
        ("1Gi", 1 << 30),
        ("1G", 10**9),
        ("1.5Gi", 3 << 29),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("64k", 64_000),
    ],
)
def test_memory(text: str, num: int) -> None:
    assert memory_bytes(text) == num


@pytest.mark.parametrize("bad", ["lots", "1.2.3", "-1", "10 Mi", "Mi", "", True])
def test_bad_quantities_refused(bad: object) -> None:
    with pytest.raises(QuantityError):
        memory_bytes(bad)  # type: ignore[arg-type]


def test_format_round_trips() -> None:
    assert format_cpu(250) == "250m" and format_cpu(2000) == "2" and format_cpu(0) == "0m"
    assert format_memory(256 << 20) == "256Mi" and format_memory(2 << 30) == "2Gi"
    assert format_memory(1000) == "1000" and format_memory(3 << 10) == "3Ki"
    for m in (5, 250, 1000, 1500, 96000):
        assert cpu_millicores(format_cpu(m)) == m
    for b in (1, 1024, 300 << 20, 5 << 30):
        assert memory_bytes(format_memory(b)) == b
    with pytest.raises(QuantityError):
        format_cpu(-1)
