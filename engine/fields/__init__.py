"""Field tables, one module per field class; this module is the registry the compiler and docs read.

Owns: finding a ``FieldSpec`` by source and name, and the plugin versions our field classes declare. The tables
themselves live in the sibling modules; each exports ``FIELD_CLASSES: tuple[FieldClass, ...]``.
"""

from __future__ import annotations

import importlib
from functools import cache

from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType

__all__ = [
    "SOURCES",
    "ArgKind",
    "ArgMode",
    "FieldClass",
    "FieldSpec",
    "FieldType",
    "field_classes",
    "fields_for_source",
    "lookup",
    "plugin_versions",
]

# Sibling modules holding field tables, in the order Falco lists the classes.
_TABLE_MODULES = ("evt", "process", "user", "fd", "container", "k8s", "k8saudit")

SOURCES = ("syscall", "k8s_audit")


@cache
def field_classes() -> tuple[FieldClass, ...]:
    out: list[FieldClass] = []
    for mod in _TABLE_MODULES:
        try:
            module = importlib.import_module(f"engine.fields.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.fields.{mod}":
                continue
            raise
        out.extend(module.FIELD_CLASSES)
    return tuple(out)


@cache
def fields_for_source(source: str) -> dict[str, FieldSpec]:
    table: dict[str, FieldSpec] = {}
    for fc in field_classes():
        if source in fc.sources:
            table.update(fc.by_name)
    return table


def lookup(source: str, name: str) -> FieldSpec | None:
    """The field spec for an exact field name (without argument), or None."""
    return fields_for_source(source).get(name)


@cache
def plugin_versions() -> dict[str, str]:
    """Plugin name (and aliases) -> version our field classes are compatible with."""
    out: dict[str, str] = {}
    for fc in field_classes():
        if fc.plugin and fc.plugin_version:
            for name in (fc.plugin, *fc.plugin_aliases):
                out[name] = fc.plugin_version
    return out
