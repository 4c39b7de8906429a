"""Fixtures for the condition tests: the local field table and an ``evaluate`` helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from condition_fixtures import TABLE, DictEvent

from engine.condition import compile_condition, parse
from engine.fields.base import FieldSpec


@pytest.fixture
def table() -> dict[str, FieldSpec]:
    return TABLE


@pytest.fixture
def evaluate() -> Callable[..., bool]:
    """``evaluate(condition_text, **values)`` compiles against the local table and runs on one event."""

    def run(text: str, values: dict[str, Any] | None = None) -> bool:
        fn = compile_condition(parse(text), "syscall", fields=TABLE)
        return fn(DictEvent(values or {}))

    return run
