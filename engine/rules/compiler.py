"""Stage 3 of rules loading: collected lists, macros and rules -> compiled rules.

Owns: list substitution (as text, before parsing; lists may name lists), macro resolution with Falco's
visibility rule (a macro may use only macros whose position comes before its own latest change; rules may
use every macro, wherever defined), exception text appended to conditions, type checking and code generation through
``engine.condition``, output compilation, and the compile-time findings: ``LOAD_ERR_COMPILE_CONDITION``,
``LOAD_ERR_VALIDATE`` (undefined macro), ``LOAD_ERR_COMPILE_OUTPUT``, ``LOAD_UNKNOWN_FILTER``,
``LOAD_NO_EVTTYPE``, ``LOAD_UNUSED_MACRO``/``LOAD_UNUSED_LIST`` and the ``evt.dir`` deprecation.
Disabled rules are compiled too (their errors count).

Must not: read YAML or merge items; an item that fails is reported and skipped, the rest still compile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engine import condition as cond
from engine.condition.ast import Node
from engine.outputs.formatter import OutputFormatError, OutputFormatter
from engine.rules import condition_warnings as W
from engine.rules import findings as F
from engine.rules.collector import Collector, MacroInfo, RuleInfo
from engine.rules.exceptions import with_exceptions
from engine.rules.findings import FindingSink, LoadError, Position
from engine.rules.ruleset import CompiledRule

NO_EVTTYPE = "Rule matches too many evt.type values. This has a significant performance penalty."
MAX_EVTTYPES = 100


class _TrackedLists(Mapping[str, Sequence[str]]):
    """The list table, remembering which lists a substitution actually read."""

    def __init__(self, lists: dict[str, list[str]], used: set[str] | None = None) -> None:
        self._lists = lists
        self.used: set[str] = set() if used is None else used
        self._refs: dict[str, tuple[str, ...]] = {}

    def for_text(self, text: str) -> _TrackedLists:
        """A view holding only the lists ``text`` can reach (names in it, and lists those lists name), so
        substitution does not scan every list for every condition. Shares the ``used`` record."""
        if not self._refs:
            self._refs = {
                n: tuple(i for i in items if i in self._lists and i != n) for n, items in self._lists.items()
            }
        todo = [n for n in self._lists if n in text]
        reach: dict[str, list[str]] = {}
        while todo:
            name = todo.pop()
            if name not in reach:
                reach[name] = self._lists[name]
                todo.extend(self._refs[name])
        return _TrackedLists(reach, self.used)

    def __getitem__(self, key: str) -> Sequence[str]:
        value = self._lists[key]
        self.used.add(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._lists

    def __iter__(self) -> Iterator[str]:
        return iter(self._lists)

    def __len__(self) -> int:
        return len(self._lists)


def _is_unknown_name(error: str) -> bool:
    """The errors ``skip-if-unknown-filter`` turns into a warning: unknown fields and event types."""
    return "nonexistent field" in error or "unknown event type" in error


class _Visible(Mapping[str, Node]):
    """The macros a condition may use: those positioned before ``limit`` (a view, nothing copied)."""

    def __init__(self, asts: dict[str, Node], infos: Mapping[str, MacroInfo], limit: int) -> None:
        self._asts = asts
        self._infos = infos
        self._limit = limit

    def __getitem__(self, key: str) -> Node:
        if self._infos[key].index < self._limit:
            return self._asts[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._asts and self._infos[key].index < self._limit

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._asts if self._infos[k].index < self._limit)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Compiler:
    def __init__(self, col: Collector, sink: FindingSink, *, all_evttypes: frozenset[str]) -> None:
        self.col = col
        self.sink = sink
        self.all_evttypes = all_evttypes
        self.lists = _TrackedLists({name: info.items for name, info in col.lists.items()})
        self.macro_asts: dict[str, Node] = {}
        self.used_macros: set[str] = set()

    def _parse(self, text: str, pos: Position, chain: tuple[Position, ...]) -> Node:
        try:
            return cond.parse(cond.substitute_lists(text, self.lists.for_text(text)))
        except cond.ConditionSyntaxError as exc:
            raise LoadError(F.LOAD_ERR_COMPILE_CONDITION, exc.message, pos, chain=chain) from None

    def _resolve(
        self, node: Node, visibility: int | None, pos: Position, chain: tuple[Position, ...]
    ) -> Node:
        """Macros substituted; ``visibility`` None (rules) sees every macro, a macro sees earlier ones only."""
        visible: Mapping[str, Node] = (
            self.macro_asts if visibility is None else _Visible(self.macro_asts, self.col.macros, visibility)
        )
        try:
            resolved = cond.substitute_macros(node, visible)
        except cond.MacroCycleError as exc:
            raise LoadError(
                F.LOAD_ERR_VALIDATE,
                f"Macro '{exc.chain[0]}' refers to itself: " + " -> ".join(exc.chain),
                pos,
                chain=chain,
            ) from None
        self._mark_used(node, visible)
        left = cond.macro_refs(resolved)
        if left:
            raise LoadError(
                F.LOAD_ERR_VALIDATE, f"Undefined macro '{min(left)}' used in filter.", pos, chain=chain
            )
        return resolved

    def _mark_used(self, node: Node, visible: Mapping[str, Node]) -> None:
        todo = [n for n in cond.macro_refs(node) if n in visible]
        while todo:
            name = todo.pop()
            if name in self.used_macros:
                continue
            self.used_macros.add(name)
            todo.extend(n for n in cond.macro_refs(visible[name]) if n in visible)

    def compile(self) -> list[CompiledRule]:
        for info in self.col.macros.values():
            self._guard(self._parse_macro, info)
        for info in self.col.macros.values():
            if info.name in self.macro_asts:
                self._guard(self._check_macro, info)
        rules: list[CompiledRule] = []
        for rule in self.col.rules.values():
            if rule.unknown_source:
                continue
            compiled = self._guard(self._compile_rule, rule)
            if compiled is not None:
                rules.append(compiled)
        for info in self.col.macros.values():
            if info.name not in self.used_macros:
                self.sink.warn(
                    F.LOAD_UNUSED_MACRO,
                    "Macro not referred to by any other rule/macro",
                    info.pos,
                    chain=tuple(info.chain),
                )
        for list_info in self.col.lists.values():
            if list_info.name not in self.lists.used:
                self.sink.warn(
                    F.LOAD_UNUSED_LIST,
                    "List not referred to by any other rule/macro",
                    list_info.pos,
                    chain=tuple(list_info.chain),
                )
        return rules

    def _guard(self, fn: Any, info: Any) -> Any:
        try:
            return fn(info)
        except LoadError as exc:
            self.sink.errors.append(exc.finding)
            return None

    def _parse_macro(self, info: MacroInfo) -> None:
        pos = info.chain[-1] if info.chain else info.pos
        self.macro_asts[info.name] = self._parse(info.cond, pos, tuple(info.chain))

    def _check_macro(self, info: MacroInfo) -> None:
        pos = info.chain[-1] if info.chain else info.pos
        resolved = self._resolve(self.macro_asts[info.name], info.visibility, pos, tuple(info.chain))
        self.macro_asts[info.name] = resolved

    def _compile_rule(self, rule: RuleInfo) -> CompiledRule | None:
        pos = rule.chain[-1] if rule.chain else rule.pos
        chain = tuple(rule.chain[:-1])  # the earlier places that shaped the rule
        single = not chain  # defined by one item: point at the key itself
        cond_pos = rule.cond_pos if single and rule.cond_pos else pos
        out_pos = rule.output_pos if single and rule.output_pos else pos
        # The output is checked before the condition, as Falco does.
        try:
            formatter = OutputFormatter(rule.output, rule.source)
        except OutputFormatError as exc:
            if rule.skip_if_unknown_filter:
                self.sink.warn(F.LOAD_UNKNOWN_FILTER, str(exc), out_pos, chain=chain)
                return None
            raise LoadError(F.LOAD_ERR_COMPILE_OUTPUT, str(exc), out_pos, chain=chain) from None
        for message in W.deprecated_output_fields(rule.output):
            self.sink.warn(F.LOAD_DEPRECATED_ITEM, message, out_pos, chain=chain)
        text = with_exceptions(rule.cond, rule.exceptions) if rule.exceptions else rule.cond
        node = self._resolve(self._parse(text, cond_pos, chain), None, cond_pos, chain)
        if W.unsafe_na_check(node):
            self.sink.warn(F.LOAD_UNSAFE_NA_CHECK, W.UNSAFE_NA, cond_pos, chain=chain)
        if W.uses_evt_dir(node):
            self.sink.warn(F.LOAD_DEPRECATED_ITEM, W.EVT_DIR_DEPRECATED, pos, chain=chain)
        for message in W.misused_values(node, rule.source):
            self.sink.warn(F.LOAD_COMPILE_CONDITION, message, cond_pos, chain=chain)
        try:
            match = cond.compile_condition(node, rule.source)
        except cond.ConditionTypeError as exc:
            first = exc.errors[0] if exc.errors else str(exc)
            if rule.skip_if_unknown_filter and any(_is_unknown_name(e) for e in exc.errors):
                self.sink.warn(F.LOAD_UNKNOWN_FILTER, first, cond_pos, chain=chain)
                return None
            raise LoadError(F.LOAD_ERR_COMPILE_CONDITION, first, cond_pos, chain=chain) from None
        evttypes: frozenset[str] | None = None
        if rule.source == "syscall" and self.all_evttypes:
            found = cond.evttypes(node, self.all_evttypes)
            if rule.warn_evttypes and len(found) > MAX_EVTTYPES:
                self.sink.warn(F.LOAD_NO_EVTTYPE, NO_EVTTYPE, pos, chain=chain)
            evttypes = None if found >= self.all_evttypes else found
        return CompiledRule(
            name=rule.name,
            source=rule.source,
            priority=rule.priority,
            enabled=rule.enabled,
            tags=tuple(rule.tags),
            condition=rule.cond,
            condition_compiled=cond.to_string(node),
            output=rule.output,
            desc=rule.desc,
            formatter=formatter,
            match=match,
            ast=node,
            evttypes=evttypes,
            capture=rule.capture,
            capture_duration=rule.capture_duration,
        )
