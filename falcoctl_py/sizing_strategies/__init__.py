"""Sizing strategies, found by name: every module here with ``NAME``, ``DESCRIPTION`` and
``size_pool(facts, cost, policy, *, queue_size) -> PoolSizing``.

Owns: the registry (``names()``, ``get(name)``) — adding a strategy is adding a module. Strategies are pure
functions over the records in ``falcoctl_py.sizing``; they must not read files or talk to a cluster.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Protocol

from falcoctl_py.cost_model import CostModel
from falcoctl_py.errors import UsageError
from falcoctl_py.profiles import SizingPolicy
from falcoctl_py.sizing import PoolFacts, PoolSizing

DEFAULT = "percentile"


class Strategy(Protocol):
    NAME: str
    DESCRIPTION: str

    def size_pool(
        self, facts: PoolFacts, cost: CostModel, policy: SizingPolicy, *, queue_size: int
    ) -> PoolSizing: ...


@lru_cache(maxsize=1)
def _registry() -> dict[str, Strategy]:
    found: dict[str, Strategy] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "NAME", None), str) and callable(getattr(module, "size_pool", None)):
            found[module.NAME] = module  # type: ignore[assignment]
    return found


def names() -> list[str]:
    return sorted(_registry())


def get(name: str) -> Strategy:
    try:
        return _registry()[name]
    except KeyError:
        raise UsageError(f"unknown sizing strategy {name!r} (choose from {', '.join(names())})") from None
