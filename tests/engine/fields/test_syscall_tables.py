"""The syscall field tables are well formed: unique names, descriptions, real extractors, sane argument forms."""

from __future__ import annotations

from typing import Any

import pytest

from engine.fields import field_classes, fields_for_source
from engine.fields.base import ArgKind, ArgMode, FieldSpec
from engine.fields.evttypes import EVENT_ARGS, EVENT_TYPES
from engine.fields.flags import ENUM_TABLES, FLAG_TABLES, capability_names, render, render_open_flags

SYSCALL_CLASSES = [fc for fc in field_classes() if fc.sources == ("syscall",)]
SYSCALL_SPECS = [spec for fc in SYSCALL_CLASSES for spec in fc.fields]


def test_classes_present() -> None:
    names = {fc.name for fc in SYSCALL_CLASSES}
    assert {"evt", "process", "thread", "user", "group", "fd", "fs.path", "container", "k8s"} <= names


def test_names_unique_and_prefixed() -> None:
    names = [s.name for s in SYSCALL_SPECS]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert all(n.split(".")[0] in {"evt", "syscall", "proc", "thread", "user", "group", "fd", "fs", "container",
                                   "k8s"} for n in names)
    assert set(fields_for_source("syscall")) >= set(names)
    assert not any(n.startswith("ka.") for n in fields_for_source("syscall"))


@pytest.mark.parametrize("spec", SYSCALL_SPECS, ids=lambda s: s.name)
def test_spec_is_complete(spec: FieldSpec, make_event: Any, pod_container: Any) -> None:
    assert spec.desc and spec.desc.endswith(".")
    assert spec.extract.__name__ != "_missing"
    if spec.dotted_arg:
        assert spec.arg is not ArgMode.NONE
    # every extractor copes with a bare event, a full one, and an odd argument, without raising
    arg = None if spec.arg is ArgMode.NONE else (1 if spec.arg_kind is ArgKind.INDEX else "x")
    for event in (make_event("openat", proc=None), make_event("openat", container=pod_container, res=-2)):
        value = spec.extract(event, arg)
        if spec.is_list and value is not None:
            assert isinstance(value, (list, tuple)) and value


def test_event_argument_tables_use_known_events_and_tables() -> None:
    for name, args in EVENT_ARGS.items():
        assert name in EVENT_TYPES, name
        assert len({a.name for a in args}) == len(args), name
        for a in args:
            assert a.table is None or a.table in FLAG_TABLES or a.table in ENUM_TABLES \
                or a.table == "socket_type", (name, a)


@pytest.mark.parametrize(("value", "text"), [(0, "O_RDONLY"), (0o1, "O_WRONLY"), (0o2, "O_RDWR"),
                                             (0o101, "O_WRONLY|O_CREAT"), (0o4010002, "O_RDWR|O_SYNC"),
                                             (0o10002, "O_RDWR|O_DSYNC"), (0o2200000, "O_RDONLY|O_DIRECTORY|O_CLOEXEC")])
def test_open_flags(value: int, text: str) -> None:
    assert render_open_flags(value) == text


def test_render_other_tables() -> None:
    assert render(2, "socket_family") == "AF_INET"
    assert render(999, "socket_family") == "999"
    assert render(0o1000, "mode") == "S_ISVTX"
    assert render("already text", "mode") == "already text"
    assert capability_names(0) == []
    assert capability_names(1 << 63) == ["CAP_63"]
