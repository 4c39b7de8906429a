"""Decoding a ``- rule:`` item into a collector operation, following Falco's reader.

Owns: the keys a rule accepts, which keys ``override`` may append to or replace (Falco's two tables below),
the order Falco applies them in (appends before replaces; a key given without an override entry is an
error), the deprecated ``append: true`` form (condition and exceptions only), the standalone ``enabled``
toggle, and a full definition's required keys, priority and options.

Must not: merge rules (``collector`` does) or parse conditions.
"""

from __future__ import annotations

from typing import Any

from engine.priority import Priority
from engine.rules import decode_values as V
from engine.rules import findings as F
from engine.rules.collector import Collector, RuleInfo, RuleUpdate
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
RULE_KEYS = frozenset(
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
WARNING_ENABLED = (
    "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
    "'replace' entry under the 'override' key (i.e. 'enabled: replace')."
)


class RuleDecoder:
    """Feeds rule items to a collector."""

    def __init__(self, collector: Collector, sink: F.FindingSink) -> None:
        self.col = collector
        self.sink = sink

    def decode(self, item: RawItem) -> None:
        name = V.text(item, "rule", item.pos(F.RULE))
        pos = item.pos(F.RULE, name)
        V.unknown_keys(item, RULE_KEYS, pos, self.sink)
        append = V.append_flag(item, pos, self.sink)
        appends, replaces = V.overrides(item, pos, can_append=RULE_APPEND, can_replace=RULE_REPLACE)
        if append and (appends or replaces):
            raise LoadError(F.LOAD_ERR_YAML_VALIDATE, V.ERROR_OVERRIDE_APPEND, pos)
        data = item.data
        # An empty ``source:`` (null or "") names no source: a definition takes the default, an update
        # keeps the source of the rule it changes.
        source = str(data["source"]) or None if data.get("source") is not None else None
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
                exceptions = upd.values.pop("exceptions", None)
                if isinstance(exceptions, list):
                    upd.exceptions = exceptions
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
                upd.values["condition"] = V.text(item, "condition", pos)
            if "exceptions" in data:
                upd.exceptions = decode_exceptions(item, name, self.sink, append=True)
            self.col.append_rule(upd)
            return
        if not any(k in data for k in ("condition", "output", "desc", "priority")):
            if "enabled" not in data:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Item has no mapping for key 'enabled'", pos)
            self.sink.warn(F.LOAD_DEPRECATED_ITEM, WARNING_ENABLED, pos)
            self.col.enable_rule(name, V.boolean(item, "enabled", pos), pos)
            return
        self.col.define_rule(self._define(item, name, pos, source))

    def _value(self, item: RawItem, key: str, pos: Position, *, append: bool) -> Any:
        if key in ("condition", "output", "desc"):
            text = V.text(item, key, pos)
            return text.strip() if key == "output" else text
        if key == "priority":
            return self._priority(item, pos)
        if key == "tags":
            return V.tags(item, pos)
        if key == "exceptions":
            return decode_exceptions(item, pos.item_name, self.sink, append=append)
        if key == "capture_duration":
            return self._int(item, key, pos)
        return V.boolean(item, key, pos)

    @staticmethod
    def _int(item: RawItem, key: str, pos: Position) -> int:
        value = item.data[key]
        try:
            if not isinstance(value, (str, int, float)):  # what int() accepts from YAML scalars
                raise TypeError(key)
            return int(value)
        except (TypeError, ValueError):
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                f"Value for key '{key}' must be an integer",
                item.pos(pos.item_type, pos.item_name, key),
            ) from None

    @staticmethod
    def _priority(item: RawItem, pos: Position) -> Priority:
        text = V.text(item, "priority", pos)
        try:
            return Priority.parse(text)
        except ValueError:
            raise LoadError(
                F.LOAD_ERR_VALIDATE, "Invalid priority", item.pos("rule priority", pos.item_name, "priority")
            ) from None

    def _define(self, item: RawItem, name: str, pos: Position, source: str | None) -> RuleInfo:
        info = RuleInfo(name, pos, source=source or "syscall")
        info.cond = V.text(item, "condition", pos)
        info.cond_pos = item.pos(F.RULE, name, "condition")
        info.output = V.text(item, "output", pos).strip()
        info.output_pos = item.pos(F.RULE, name, "output")
        info.desc = V.text(item, "desc", pos)
        info.priority = self._priority(item, pos)
        data = item.data
        for key, attr in (
            ("enabled", "enabled"),
            ("warn_evttypes", "warn_evttypes"),
            ("skip-if-unknown-filter", "skip_if_unknown_filter"),
            ("capture", "capture"),
        ):
            if key in data:
                setattr(info, attr, V.boolean(item, key, pos))
        if "capture_duration" in data:
            info.capture_duration = self._int(item, "capture_duration", pos)
        if "tags" in data:
            info.tags = V.tags(item, pos)
        info.exceptions = decode_exceptions(item, name, self.sink, append=False)
        return info
