"""Size-report formatters, found by name: every module in this package with ``NAME`` and ``render(doc) -> str``.

Owns: the registry (``formatters()``, ``get(name)``) — adding an output format is adding a module, not editing a
switch. Formatters receive the plain document from ``falcoctl_py.report.document.sizing_document`` and must not
compute sizes themselves.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from falcoctl_py.errors import UsageError

Formatter = Callable[[dict[str, Any]], str]
_NOT_FORMATTERS = {"document", "svg"}  # helpers, not formats


@lru_cache(maxsize=1)
def formatters() -> dict[str, Formatter]:
    found: dict[str, Formatter] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_FORMATTERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        name, render = getattr(module, "NAME", None), getattr(module, "render", None)
        if isinstance(name, str) and callable(render):
            found[name] = render
    return found


def names() -> list[str]:
    return sorted(formatters())


def get(name: str) -> Formatter:
    try:
        return formatters()[name]
    except KeyError:
        raise UsageError(f"unknown output format {name!r} (choose from {', '.join(names())})") from None
