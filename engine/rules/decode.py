"""From raw items to collector operations: Falco's per-item checks and its append/override rules.

Owns: which keys each item kind accepts (others warn ``LOAD_UNKNOWN_KEY``), required keys and their
messages, decoding of ``override`` (which keys may be appended to or replaced -- Falco's tables below),
the deprecated ``append: true`` and standalone ``enabled`` forms, priority and boolean decoding, and the
``required_engine_version`` / ``required_plugin_versions`` records.

Must not: merge items (``collector`` does) or look at conditions beyond carrying their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.priority import Priority
from engine.rules import findings as F
from engine.rules.collector import Collector, ListInfo, MacroInfo, RuleInfo, RuleUpdate
from engine.rules.exceptions import decode_exceptions
from engine.rules.findings import LoadError, Position
from engine.rules.reader import RawItem

RULE_APPEND = frozenset({"condition", "output", "desc", "tags", "exceptions"})
RULE_REPLACE = frozenset(
    {
        "condition",
        "output",
        "desc",
        "priority",
        "tags",
        "exceptions",
        "enabled",
        "warn_evttypes",
        "skip-if-unknown-filter",
        "capture",
        "capture_duration",
    }
)
_RULE_KEYS = frozenset(
    {
        "rule",
        "condition",
        "output",
        "desc",
        "priority",
        "source",
        "enabled",
        "warn_evttypes",
        "skip-if-unknown-filter",
        "tags",
        "exceptions",
        "append",
        "override",
        "capture",
        "capture_duration",
    }
)
_MACRO_KEYS = frozenset({"macro", "condition", "append", "override"})
_LIST_KEYS = frozenset({"list", "items", "append", "override"})
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

WARNING_APPEND = (
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
)
WARNING_ENABLED = (
    "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
    "'replace' entry under the 'override' key (i.e. 'enabled: replace')."
)
ERROR_OVERRIDE_APPEND = (
    "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry "
    "(e.g. 'condition: append') under 'override' instead."
)


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


def _text(item: RawItem, key: str, pos: Position) -> str:
    if key not in item.data:
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Item has no mapping for key '{key}'", pos)
    value = item.data[key]
    if value is None or value == "":
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Mapping for key '{key}' is empty", pos)
    if isinstance(value, (dict, list)):
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Value for key '{key}' must be a scalar", pos)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool(item: RawItem, key: str, pos: Position) -> bool:
    value = item.data[key]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "on", "y"):
        return True
    if word in ("false", "no", "off", "n"):
        return False
    raise LoadError(
        F.LOAD_ERR_YAML_VALIDATE,
        f"Can't decode YAML scalar value for key '{key}': {value!r}",
        item.pos(pos.item_type, pos.item_name, key),
    )


def _tags(item: RawItem, pos: Position) -> list[str]:
    value = item.data["tags"]
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
        raise LoadError(
            F.LOAD_ERR_YAML_VALIDATE,
            "Tags must be a list of strings",
            item.pos(pos.item_type, pos.item_name, "tags"),
        )
    return [str(v) for v in value]


def _unknown_keys(item: RawItem, allowed: frozenset[str], pos: Position, sink: F.FindingSink) -> None:
    for key in item.data:
        if key not in allowed:
            sink.warn(F.LOAD_UNKNOWN_KEY, f"Unknown key '{key}'", item.pos(pos.item_type, pos.item_name, key))


def _overrides(
    item: RawItem, pos: Position, *, can_append: frozenset[str], can_replace: frozenset[str]
) -> tuple[set[str], set[str]]:
    ov = item.data.get("override")
    if ov is None:
        return set(), set()
    opos = item.pos(F.OVERRIDE, "", "override")
    if not isinstance(ov, dict):
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Override must be a mapping of key to append|replace", opos)
    appends: set[str] = set()
    replaces: set[str] = set()
    for key, op in ov.items():
        kpos = item.pos(F.OVERRIDE, str(key), "override", key)
        if key not in can_append and key not in can_replace:
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Key '{key}' cannot be overridden", kpos)
        if op == "append":
            if key not in can_append:
                raise LoadError(
                    F.LOAD_ERR_YAML_VALIDATE,
                    f"Key '{key}' cannot be appended to, use 'replace' instead",
                    kpos,
                )
            appends.add(key)
        elif op == "replace":
            if key not in can_replace:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Key '{key}' cannot be replaced", kpos)
            replaces.add(key)
        else:
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                f"Invalid override operation for key '{key}': '{op}'. Allowed values are: append, replace",
                kpos,
            )
    return appends, replaces


def _append_flag(item: RawItem, pos: Position, sink: F.FindingSink) -> bool:
    if "append" not in item.data:
        return False
    flag = _bool(item, "append", pos)
    if flag:
        sink.warn(F.LOAD_DEPRECATED_ITEM, WARNING_APPEND, pos)
    return flag


class Decoder:
    """Feeds one file's items to a collector, recording warnings in ``sink``."""

    def __init__(self, collector: Collector, sink: F.FindingSink, requirements: Requirements) -> None:
        self.col = collector
        self.sink = sink
        self.req = requirements

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
            self._rule(item)
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
            raise LoadError(
                F.LOAD_ERR_VALIDATE,
                f"Unable to parse engine version '{text}' as a semver string. "
                'Expected "x.y.z" semver format.',
                pos,
            )
        self.req.engine.append((ver, text, pos))

    def _plugin_versions(self, item: RawItem) -> None:
        pos = item.pos(F.REQUIRED_PLUGIN_VERSIONS)
        entries = item.data["required_plugin_versions"]
        if not isinstance(entries, list):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Value is not a sequence", pos)
        for i, entry in enumerate(entries):
            epos = item.pos("required_plugin_versions entry", "", "required_plugin_versions", i)
            choices = [self._plugin_choice(entry, epos)]
            alts = entry.get("alternatives") or []
            if not isinstance(alts, list):
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Value is not a sequence", epos)
            for j, alt in enumerate(alts):
                apos = item.pos(
                    "required_plugin_versions alternative",
                    "",
                    "required_plugin_versions",
                    i,
                    "alternatives",
                    j,
                )
                choices.append(self._plugin_choice(alt, apos))
            self.req.plugins.append(PluginRequirement(tuple(choices), epos))

    @staticmethod
    def _plugin_choice(entry: Any, pos: Position) -> tuple[str, str]:
        if not isinstance(entry, dict):
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                "Unexpected element type. Each element should be a yaml associative array.",
                pos,
            )
        for key in ("name", "version"):
            if entry.get(key) in (None, ""):
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Item has no mapping for key '{key}'", pos)
        return str(entry["name"]), str(entry["version"])

    def _list(self, item: RawItem) -> None:
        name = _text(item, "list", item.pos(F.LIST))
        pos = item.pos(F.LIST, name)
        _unknown_keys(item, _LIST_KEYS, pos, self.sink)
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
        append = _append_flag(item, pos, self.sink)
        appends, replaces = _overrides(
            item, pos, can_append=frozenset({"items"}), can_replace=frozenset({"items"})
        )
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND, pos)
        info = ListInfo(name, items, pos)
        (self.col.append_list if append or appends else self.col.define_list)(info)

    def _macro(self, item: RawItem) -> None:
        name = _text(item, "macro", item.pos(F.MACRO))
        pos = item.pos(F.MACRO, name)
        _unknown_keys(item, _MACRO_KEYS, pos, self.sink)
        if not _NAME.match(name):
            self.sink.warn(
                F.LOAD_INVALID_MACRO_NAME,
                f"Macro has an invalid name. Macro names should match a regular expression: {_NAME.pattern}",
                pos,
            )
        cond = _text(item, "condition", pos)
        append = _append_flag(item, pos, self.sink)
        appends, replaces = _overrides(
            item, pos, can_append=frozenset({"condition"}), can_replace=frozenset({"condition"})
        )
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND, pos)
        info = MacroInfo(name, cond, pos, item.pos(F.MACRO, name, "condition"))
        (self.col.append_macro if append or appends else self.col.define_macro)(info)

    def _rule(self, item: RawItem) -> None:
        name = _text(item, "rule", item.pos(F.RULE))
        pos = item.pos(F.RULE, name)
        _unknown_keys(item, _RULE_KEYS, pos, self.sink)
        append = _append_flag(item, pos, self.sink)
        appends, replaces = _overrides(item, pos, can_append=RULE_APPEND, can_replace=RULE_REPLACE)
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND, pos)
        data = item.data
        source = str(data["source"]) if data.get("source") is not None else None
        if appends or replaces:
            expected = {k for k in RULE_REPLACE | RULE_APPEND if k in data}
            for keys, op, apply in (
                (appends, "append", self.col.append_rule),
                (replaces, "replace", self.col.replace_rule),
            ):
                if not keys:
                    continue
                upd = RuleUpdate(name, pos, source)
                for key in sorted(keys):
                    if key not in expected:
                        raise LoadError(
                            F.LOAD_ERR_YAML_VALIDATE,
                            f"An {op} override for '{key}' was specified but '{key}' is not defined",
                            pos,
                        )
                    expected.discard(key)
                    upd.values[key] = self._value(item, key, pos, append=op == "append")
                if "exceptions" in upd.values:
                    upd.exceptions = upd.values.pop("exceptions")
                apply(upd)
            for key in sorted(expected):
                raise LoadError(
                    F.LOAD_ERR_YAML_VALIDATE,
                    f"Unexpected key '{key}': no corresponding entry under 'override' is defined.",
                    item.pos(F.OVERRIDE, key, key),
                )
            return
        if append:
            upd = RuleUpdate(name, pos, source)
            if "condition" in data:
                upd.values["condition"] = _text(item, "condition", pos)
            if "exceptions" in data:
                upd.exceptions = decode_exceptions(item, name, self.sink, append=True)
            self.col.append_rule(upd)
            return
        if not any(k in data for k in ("condition", "output", "desc", "priority")):
            if "enabled" not in data:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Item has no mapping for key 'enabled'", pos)
            self.sink.warn(F.LOAD_DEPRECATED_ITEM, WARNING_ENABLED, pos)
            self.col.enable_rule(name, _bool(item, "enabled", pos), pos)
            return
        self.col.define_rule(self._define(item, name, pos, source))

    def _value(self, item: RawItem, key: str, pos: Position, *, append: bool) -> Any:
        if key in ("condition", "output", "desc"):
            text = _text(item, key, pos)
            return text.strip() if key == "output" else text
        if key == "priority":
            return self._priority(item, pos)
        if key == "tags":
            return _tags(item, pos)
        if key == "exceptions":
            return decode_exceptions(item, pos.item_name, self.sink, append=append)
        if key == "capture_duration":
            return self._int(item, key, pos)
        return _bool(item, key, pos)

    @staticmethod
    def _int(item: RawItem, key: str, pos: Position) -> int:
        try:
            return int(item.data[key])
        except (TypeError, ValueError):
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                f"Value for key '{key}' must be an integer",
                item.pos(pos.item_type, pos.item_name, key),
            ) from None

    @staticmethod
    def _priority(item: RawItem, pos: Position) -> Priority:
        text = _text(item, "priority", pos)
        try:
            return Priority.parse(text)
        except ValueError:
            raise LoadError(
                F.LOAD_ERR_VALIDATE, "Invalid priority", item.pos("rule priority", pos.item_name, "priority")
            ) from None

    def _define(self, item: RawItem, name: str, pos: Position, source: str | None) -> RuleInfo:
        info = RuleInfo(name, pos, source=source or "syscall")
        info.cond = _text(item, "condition", pos)
        info.cond_pos = item.pos(F.RULE, name, "condition")
        info.output = _text(item, "output", pos).strip()
        info.output_pos = item.pos(F.RULE, name, "output")
        info.desc = _text(item, "desc", pos)
        info.priority = self._priority(item, pos)
        data = item.data
        for key, attr in (
            ("enabled", "enabled"),
            ("warn_evttypes", "warn_evttypes"),
            ("skip-if-unknown-filter", "skip_if_unknown_filter"),
            ("capture", "capture"),
        ):
            if key in data:
                setattr(info, attr, _bool(item, key, pos))
        if "capture_duration" in data:
            info.capture_duration = self._int(item, "capture_duration", pos)
        if "tags" in data:
            info.tags = _tags(item, pos)
        info.exceptions = decode_exceptions(item, name, self.sink, append=False)
        return info
