"""Falco's ``append_output``: extra text and extra fields added to the alerts of the rules an entry matches.

Owns: ``AppendOutput`` — the configured entries (each ``match`` on ``source``, ``tags`` (the rule must carry
all of them) and ``rule`` (its name); an entry without ``match`` applies to every rule), compiled once per rule
and source on first use: ``extra_output`` is formatted like a rule output and appended to the alert's output line
after a space; ``extra_fields`` adds output fields only — a field name (``proc.env``, ``proc.env[HOME]``) keeps
its name as the key and its typed value, a one-key mapping ``{name: template}`` stores the formatted template
under ``name``. A field the rule's source does not have is left out for that source (logged once), as the
entry cannot apply there.

Must not: evaluate conditions, or change alerts of rules no entry matches (the alert passes through unchanged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.outputs.alert import Alert, replace
from engine.outputs.formatter import OutputFormatError, OutputFormatter

if TYPE_CHECKING:
    from engine.events.base import Event
    from engine.rules.ruleset import CompiledRule

log = logging.getLogger("engine.outputs")


@dataclass(frozen=True)
class _Compiled:
    text: OutputFormatter | None
    fields: tuple[tuple[str, OutputFormatter, bool], ...]  # (key, formatter, typed: take the field's value)

    @property
    def empty(self) -> bool:
        return self.text is None and not self.fields


def _matches(entry: Mapping[str, Any], rule: Any) -> bool:
    match = entry.get("match") or {}
    if match.get("source") and match["source"] != rule.source:
        return False
    if match.get("rule") and match["rule"] != rule.name:
        return False
    tags = match.get("tags") or ()
    return all(tag in (rule.tags or ()) for tag in tags)


class AppendOutput:
    """The ``append_output`` entries of the engine configuration, applied to alerts."""

    def __init__(self, entries: Sequence[Mapping[str, object]]) -> None:
        self.entries = [dict(e) for e in entries]
        self._cache: dict[tuple[str, str], _Compiled] = {}
        self._warned: set[tuple[str, str]] = set()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def reset(self) -> None:
        """Forget what was compiled (a new ruleset may change a rule's tags or source)."""
        self._cache.clear()

    def _formatter(self, text: str, source: str) -> OutputFormatter | None:
        try:
            return OutputFormatter(text, source)
        except OutputFormatError as exc:
            if (text, source) not in self._warned:
                self._warned.add((text, source))
                log.warning("append_output: %r does not apply to %s rules: %s", text, source, exc)
            return None

    def _compile(self, rule: Any) -> _Compiled:
        texts: list[str] = []
        fields: list[tuple[str, OutputFormatter, bool]] = []
        for entry in self.entries:
            if not _matches(entry, rule):
                continue
            if entry.get("extra_output"):
                texts.append(str(entry["extra_output"]))
            extra = entry.get("extra_fields") or ()
            for item in extra if isinstance(extra, (list, tuple)) else ():
                if isinstance(item, str):
                    fmt = self._formatter(f"%{item}", rule.source)
                    if fmt is not None:
                        fields.append((item, fmt, True))
                else:
                    for key, template in dict(item).items():
                        fmt = self._formatter(str(template), rule.source)
                        if fmt is not None:
                            fields.append((str(key), fmt, False))
        text = self._formatter(" ".join(texts), rule.source) if texts else None
        return _Compiled(text, tuple(fields))

    def apply(self, rule: CompiledRule, event: Event, alert: Alert) -> Alert:
        """``alert`` with this configuration's extra output and fields for ``rule``."""
        key = (rule.name, rule.source)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._cache[key] = self._compile(rule)
        if compiled.empty:
            return alert
        output, fields = alert.output, dict(alert.output_fields)
        if compiled.text is not None:
            extra, extra_fields = compiled.text.format(event)
            output = f"{output} {extra}"
            for name, value in extra_fields.items():
                fields.setdefault(name, value)
        for name, fmt, typed in compiled.fields:
            text, values = fmt.format(event)
            fields[name] = values.get(name) if typed else text
        return replace(alert, output=output, output_fields=fields)
