"""The exceptions rules declare themselves: name, fields and operators per rule, as the base rules files leave them.

Owns: reading ``exceptions`` blocks from rules files in load order (a full rule definition replaces what came
before, ``append: true`` or ``override: {exceptions: append}`` adds, ``override: {exceptions: replace}`` replaces),
so a tuning proposal can append values to an exception the rule's author meant for that purpose instead of writing
a new one. Loading and validating rules is the engine's job; this module only reads what is declared, and skips
what it cannot read (the engine reports it with file:line when the rules load).

Must not: evaluate conditions or decide whether an exception is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class DeclaredException:
    rule: str
    name: str
    fields: tuple[str, ...]
    comps: tuple[str, ...]


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _decode(rule: str, ex: Any) -> DeclaredException | None:
    if not isinstance(ex, dict) or not ex.get("name") or ex.get("fields") is None:
        return None
    fields = _as_tuple(ex["fields"])
    comps = _as_tuple(ex.get("comps")) or tuple("=" for _ in fields)
    if isinstance(ex["fields"], list) and len(comps) != len(fields):
        return None
    if not isinstance(ex["fields"], list):
        comps = comps[:1] or ("in",)  # one field: Falco's default operator is ``in``
    return DeclaredException(rule=rule, name=str(ex["name"]), fields=fields, comps=comps)


def _items(texts: Iterable[str]) -> Iterable[dict[str, Any]]:
    for text in texts:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        for item in doc if isinstance(doc, list) else ():
            if isinstance(item, dict) and isinstance(item.get("rule"), str):
                yield item


def declared_exceptions(rules: Sequence[Path | tuple[str, str]]) -> dict[str, list[DeclaredException]]:
    """Rule name -> its declared exceptions after every file of ``rules`` (paths, or (name, text) pairs)."""
    texts = []
    for r in rules:
        if isinstance(r, tuple):
            texts.append(r[1])
        else:
            try:
                texts.append(Path(r).read_text())
            except OSError:
                continue
    out: dict[str, list[DeclaredException]] = {}
    for item in _items(texts):
        rule = item["rule"]
        override = item.get("override") if isinstance(item.get("override"), dict) else {}
        mode = override.get("exceptions") if override else ("append" if item.get("append") else None)
        decoded = [d for d in (_decode(rule, ex) for ex in item.get("exceptions") or ()) if d is not None]
        if mode == "append":
            known = {d.name for d in out.get(rule, [])}
            out.setdefault(rule, []).extend(d for d in decoded if d.name not in known)
        elif mode == "replace" or "condition" in item:
            out[rule] = decoded
    return {rule: exs for rule, exs in out.items() if exs}
