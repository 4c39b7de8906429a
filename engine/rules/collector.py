"""Stage 2 of rules loading: the collected lists, macros and rules, merged in Falco's order.

Owns: the info records and the merge operations -- define (a redefinition replaces the item but keeps its
original position), append (text joined with a space, list items extended, exception values added),
selective replace (``override: {key: replace}``) and the standalone ``enabled`` toggle -- plus each item's
``index`` (position) and ``visibility`` (the counter value of its latest change; a condition may only use
macros whose index is lower), and the chain of places that shaped each item.

Must not: read YAML (``decode`` hands over decoded infos) or parse conditions (``compiler`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.priority import Priority
from engine.rules.exceptions import ExceptionInfo, validate_exception
from engine.rules.findings import LOAD_ERR_VALIDATE, LOAD_UNKNOWN_SOURCE, FindingSink, LoadError, Position


@dataclass(slots=True)
class ListInfo:
    name: str
    items: list[str]
    pos: Position
    index: int = 0
    visibility: int = 0
    chain: list[Position] = field(default_factory=list)


@dataclass(slots=True)
class MacroInfo:
    name: str
    cond: str
    pos: Position
    cond_pos: Position
    index: int = 0
    visibility: int = 0
    chain: list[Position] = field(default_factory=list)


@dataclass(slots=True)
class RuleInfo:
    name: str
    pos: Position
    cond: str = ""
    cond_pos: Position | None = None
    output: str = ""
    output_pos: Position | None = None
    desc: str = ""
    priority: Priority = Priority.DEBUG
    source: str = "syscall"
    tags: list[str] = field(default_factory=list)
    exceptions: list[ExceptionInfo] = field(default_factory=list)
    enabled: bool = True
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0
    unknown_source: bool = False
    index: int = 0
    visibility: int = 0
    chain: list[Position] = field(default_factory=list)


@dataclass(slots=True)
class RuleUpdate:
    """An append or replace item: only the keys it sets are present in ``values``."""

    name: str
    pos: Position
    source: str | None = None
    values: dict[str, object] = field(default_factory=dict)
    exceptions: list[ExceptionInfo] | None = None


_TEXT_APPEND = ("condition", "output", "desc")
_ATTR = {
    "condition": "cond",
    "output": "output",
    "desc": "desc",
    "priority": "priority",
    "tags": "tags",
    "enabled": "enabled",
    "warn_evttypes": "warn_evttypes",
    "skip-if-unknown-filter": "skip_if_unknown_filter",
    "capture": "capture",
    "capture_duration": "capture_duration",
}


class Collector:
    """Holds everything read so far, across files, in definition order."""

    def __init__(self, sources: frozenset[str], sink: FindingSink) -> None:
        self.sources = sources
        self.sink = sink
        self.lists: dict[str, ListInfo] = {}
        self.macros: dict[str, MacroInfo] = {}
        self.rules: dict[str, RuleInfo] = {}
        self._counter = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _define(self, table: dict[str, Any], info: Any) -> None:
        prev = table.get(info.name)
        info.visibility = self._next()
        if prev is not None:
            info.index = prev.index
            info.chain = [*prev.chain, info.pos]
        else:
            info.index = info.visibility
            info.chain = [info.pos]
        table[info.name] = info

    def _touch(self, prev: Any, pos: Position) -> None:
        prev.visibility = self._next()
        prev.chain.append(pos)

    # lists
    def define_list(self, info: ListInfo) -> None:
        self._define(self.lists, info)

    def append_list(self, info: ListInfo) -> None:
        prev = self.lists.get(info.name)
        if prev is None:
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "List uses 'append' or 'override.items: append' but no list by that name already exists",
                info.pos,
            )
        prev.items.extend(info.items)
        self._touch(prev, info.pos)

    # macros
    def define_macro(self, info: MacroInfo) -> None:
        self._define(self.macros, info)

    def append_macro(self, info: MacroInfo) -> None:
        prev = self.macros.get(info.name)
        if prev is None:
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "Macro uses 'append' or 'override.condition: append' but no macro "
                "by that name already exists",
                info.pos,
            )
        prev.cond = f"{prev.cond} {info.cond}"
        self._touch(prev, info.pos)

    # rules
    def define_rule(self, info: RuleInfo) -> None:
        prev = self.rules.get(info.name)
        if prev is not None and prev.source != info.source:
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "Rule has been re-defined with a different source",
                info.pos,
                chain=tuple(prev.chain),
            )
        if info.source not in self.sources:
            info.unknown_source = True
            self.sink.warn(LOAD_UNKNOWN_SOURCE, f"Unknown source {info.source}, skipping", info.pos)
        else:
            for ex in info.exceptions:
                validate_exception(ex, info.source)
        self._define(self.rules, info)

    def _previous(self, upd: RuleUpdate, message: str) -> RuleInfo:
        prev = self.rules.get(upd.name)
        if prev is None:
            raise LoadError(LOAD_ERR_VALIDATE, message, upd.pos)
        if upd.source is not None and upd.source != prev.source:
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "Rule has been re-defined with a different source",
                upd.pos,
                chain=tuple(prev.chain),
            )
        if not upd.values and upd.exceptions is None:
            raise LoadError(
                LOAD_ERR_VALIDATE, "Appended rule must have exceptions or condition property", upd.pos
            )
        return prev

    def append_rule(self, upd: RuleUpdate) -> None:
        prev = self._previous(
            upd, "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"
        )
        for key in _TEXT_APPEND:
            if key in upd.values:
                attr = _ATTR[key]
                setattr(prev, attr, f"{getattr(prev, attr)} {upd.values[key]}")
                if key == "condition":
                    prev.cond_pos = prev.cond_pos or upd.pos
        tags = upd.values.get("tags")
        if isinstance(tags, list):
            prev.tags.extend(t for t in tags if t not in prev.tags)
        for ex in upd.exceptions or ():
            self._append_exception(prev, ex)
        self._touch(prev, upd.pos)

    def _append_exception(self, prev: RuleInfo, ex: ExceptionInfo) -> None:
        old = next((e for e in prev.exceptions if e.name == ex.name), None)
        if old is None:
            if ex.fields is None:
                raise LoadError(
                    LOAD_ERR_VALIDATE,
                    "Rule exception must have fields property with a list of fields",
                    ex.pos,
                )
            if not ex.values:
                raise LoadError(
                    LOAD_ERR_VALIDATE,
                    "Rule exception must have values property with a list of values",
                    ex.pos,
                )
            if not prev.unknown_source:
                validate_exception(ex, prev.source)
            prev.exceptions.append(ex)
            return
        if ex.fields is not None:
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "Can not append exception fields to existing exception, only values",
                ex.pos,
            )
        if ex.comps is not None:
            raise LoadError(
                LOAD_ERR_VALIDATE, "Can not append exception comps to existing exception, only values", ex.pos
            )
        old.values.extend(ex.values)

    def replace_rule(self, upd: RuleUpdate) -> None:
        prev = self._previous(
            upd,
            "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
        )
        for key, value in upd.values.items():
            setattr(prev, _ATTR[key], list(value) if key == "tags" and isinstance(value, list) else value)
        if "condition" in upd.values:
            prev.cond_pos = upd.pos
        if "output" in upd.values:
            prev.output_pos = upd.pos
        if upd.exceptions is not None:
            if not prev.unknown_source:
                for ex in upd.exceptions:
                    validate_exception(ex, prev.source)
            prev.exceptions = list(upd.exceptions)
        self._touch(prev, upd.pos)

    def enable_rule(self, name: str, enabled: bool, pos: Position) -> None:
        prev = self.rules.get(name)
        if prev is None:
            raise LoadError(
                LOAD_ERR_VALIDATE, "Rule has 'enabled' key but no rule by that name already exists", pos
            )
        prev.enabled = enabled
        prev.chain.append(pos)
