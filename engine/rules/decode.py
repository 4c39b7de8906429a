"""From raw items to collector operations: dispatch by item kind, lists, macros and version requirements.

Owns: the ``Decoder`` (one per load), list and macro items (keys, name checks, append/override),
``required_engine_version`` (a number N means 0.N.0) and ``required_plugin_versions`` (with alternatives)
records; rule items are ``decode_rule``'s and single values ``decode_values``'.

Must not: merge items (``collector`` does) or look at conditions beyond carrying their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.rules import decode_values as V
from engine.rules import findings as F
from engine.rules.collector import Collector, ListInfo, MacroInfo
from engine.rules.decode_rule import RuleDecoder
from engine.rules.findings import LoadError, Position
from engine.rules.reader import RawItem

_MACRO_KEYS = frozenset({"macro", "condition", "append", "override"})
_LIST_KEYS = frozenset({"list", "items", "append", "override"})
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class PluginRequirement:
    """One ``required_plugin_versions`` entry: (name, version) pairs, any of which satisfies it."""

    choices: tuple[tuple[str, str], ...]
    pos: Position


@dataclass(slots=True)
class Requirements:
    engine: list[tuple[tuple[int, int, int], str, Position]] = field(default_factory=list)
    plugins: list[PluginRequirement] = field(default_factory=list)


def parse_semver(text: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(text.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


class Decoder:
    """Feeds one file's items to a collector, recording warnings in ``sink``."""

    def __init__(self, collector: Collector, sink: F.FindingSink, requirements: Requirements) -> None:
        self.col = collector
        self.sink = sink
        self.req = requirements
        self.rules = RuleDecoder(collector, sink)

    def item(self, item: RawItem) -> None:
        data = item.data
        if "required_engine_version" in data:
            self._engine_version(item)
        elif "required_plugin_versions" in data:
            self._plugin_versions(item)
        elif "list" in data:
            self._list(item)
        elif "macro" in data:
            self._macro(item)
        elif "rule" in data:
            self.rules.decode(item)
        else:
            self.sink.warn(F.LOAD_UNKNOWN_ITEM, "Unknown top level item", item.pos(F.RULES_CONTENT_ITEM))

    def _engine_version(self, item: RawItem) -> None:
        pos = item.pos(F.REQUIRED_ENGINE_VERSION)
        value = item.data["required_engine_version"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            self.req.engine.append(((0, value, 0), str(value), pos))
            return
        text = "" if value is None else str(value)
        ver = parse_semver(text)
        if ver is None:
            # A reader-level finding, as Falco's: the value is malformed, not merely too new.
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                f"Unable to parse engine version '{text}' as a semver string. "
                'Expected "x.y.z" semver format.',
                pos,
            )
        self.req.engine.append((ver, text, pos))

    def _plugin_versions(self, item: RawItem) -> None:
        pos = item.pos(F.REQUIRED_PLUGIN_VERSIONS)
        entries = item.data["required_plugin_versions"]
        if not isinstance(entries, list):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Value of required_plugin_versions must be a sequence", pos)
        for i, entry in enumerate(entries):
            epos = item.pos("required_plugin_versions entry", "", "required_plugin_versions", i)
            choices = [self._plugin_choice(entry, epos, "Plugin version")]
            alts = entry.get("alternatives") or []
            if not isinstance(alts, list):
                raise LoadError(
                    F.LOAD_ERR_YAML_VALIDATE, "Value of plugin version alternatives must be a sequence", epos
                )
            for j, alt in enumerate(alts):
                apos = item.pos(
                    "required_plugin_versions alternative",
                    "",
                    "required_plugin_versions",
                    i,
                    "alternatives",
                    j,
                )
                choices.append(self._plugin_choice(alt, apos, "Plugin version alternative"))
            self.req.plugins.append(PluginRequirement(tuple(choices), epos))

    @staticmethod
    def _plugin_choice(entry: Any, pos: Position, what: str) -> tuple[str, str]:
        if not isinstance(entry, dict):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"{what} must be a mapping", pos)
        for key in ("name", "version"):
            if key not in entry:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Item has no mapping for key '{key}'", pos)
            if entry[key] is None:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Mapping for key '{key}' is empty", pos)
            if isinstance(entry[key], (dict, list)):
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Value is not a scalar value", pos)
            if entry[key] == "":
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Value must be non-empty", pos)
        return str(entry["name"]), str(entry["version"])

    def _list(self, item: RawItem) -> None:
        name = V.text(item, "list", item.pos(F.LIST))
        pos = item.pos(F.LIST, name)
        V.unknown_keys(item, _LIST_KEYS, pos, self.sink)
        if not _NAME.match(name):
            self.sink.warn(
                F.LOAD_INVALID_LIST_NAME,
                f"List has an invalid name. List names should match a regular expression: {_NAME.pattern}",
                pos,
            )
        if "items" not in item.data:
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Item has no mapping for key 'items'", pos)
        raw = item.data["items"] or []
        if not isinstance(raw, list) or any(isinstance(v, (dict, list)) for v in raw):
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                "List items must be a list of strings",
                item.pos(F.LIST, name, "items"),
            )
        items = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in raw]
        append = V.append_flag(item, pos, self.sink)
        appends, replaces = V.overrides(
            item, pos, can_append=frozenset({"items"}), can_replace=frozenset({"items"})
        )
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, V.ERROR_OVERRIDE_APPEND, pos)
        info = ListInfo(name, items, pos)
        (self.col.append_list if append or appends else self.col.define_list)(info)

    def _macro(self, item: RawItem) -> None:
        name = V.text(item, "macro", item.pos(F.MACRO))
        pos = item.pos(F.MACRO, name)
        V.unknown_keys(item, _MACRO_KEYS, pos, self.sink)
        if not _NAME.match(name):
            self.sink.warn(
                F.LOAD_INVALID_MACRO_NAME,
                f"Macro has an invalid name. Macro names should match a regular expression: {_NAME.pattern}",
                pos,
            )
        cond = V.text(item, "condition", pos)
        append = V.append_flag(item, pos, self.sink)
        appends, replaces = V.overrides(
            item, pos, can_append=frozenset({"condition"}), can_replace=frozenset({"condition"})
        )
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, V.ERROR_OVERRIDE_APPEND, pos)
        info = MacroInfo(name, cond, pos, item.pos(F.MACRO, name, "condition"))
        (self.col.append_macro if append or appends else self.col.define_macro)(info)
